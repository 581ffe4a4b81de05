/**
 * Reading trust material from its source: a file, a Secrets Manager secret, and for CRLs an https
 * URL or an S3 object. Each read returns the bytes with a version (content hash, Secrets Manager
 * version id, ETag) or says "unchanged" when the caller already holds that version, so polls are
 * cheap. A failure is a SourceError naming the source and a stable code; it never yields empty or
 * partial bytes. This room knows nothing about what the bytes mean.
 */
import type { Source } from '../../config/config.js';
import { fetchFile } from './file.js';
import { fetchHttps } from './https.js';
import { fetchS3 } from './s3.js';
import { fetchSecret } from './secrets-manager.js';
import type { FetchOptions, FetchResult } from './types.js';

export { setHttpsSourceDispatcher } from './https.js';
export { MAX_SOURCE_BYTES, SourceError } from './source-error.js';
export type { Fetched, FetchOptions, FetchResult, Unchanged } from './types.js';
export { isUnchanged } from './types.js';

export function describeSource(source: Source): string {
  switch (source.kind) {
    case 'file':
      return source.path;
    case 'secretsmanager':
      return `secretsmanager:${source.secretId}`;
    case 'https':
      return source.url;
    case 's3':
      return `s3://${source.bucket}/${source.key}`;
  }
}

export function fetchSource(source: Source, options: FetchOptions = {}): Promise<FetchResult> {
  const name = describeSource(source);
  switch (source.kind) {
    case 'file':
      return fetchFile(name, source.path, options);
    case 'secretsmanager':
      return fetchSecret(name, source.secretId, options);
    case 'https':
      return fetchHttps(name, source.url, options);
    case 's3':
      return fetchS3(name, source.bucket, source.key, options);
  }
}
