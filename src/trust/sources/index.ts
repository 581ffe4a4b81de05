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
import { redactUrl } from './redact-url.js';
import type { FetchOptions, FetchResult } from './types.js';

export { setHttpsSourceDispatcher } from './https.js';
export { redactUrl, redactUrlsIn } from './redact-url.js';
export { MAX_SOURCE_BYTES, SourceError } from './source-error.js';
export type { Fetched, FetchOptions, FetchResult, Unchanged } from './types.js';
export { isUnchanged } from './types.js';

/** How a source is named in logs, `/trust` and errors: an https or s3 URL without userinfo or query. */
export function describeSource(source: Source): string {
  switch (source.kind) {
    case 'file':
      return source.path;
    case 'secretsmanager':
      return `secretsmanager:${source.secretId}`;
    case 'https':
      return redactUrl(source.url);
    case 's3':
      // A key may carry a presigned query, a bucket text userinfo: shown as any other URL.
      return redactUrl(`s3://${source.bucket}/${source.key}`);
  }
}

/**
 * Records a fleet decision on a Secrets Manager source (see secrets-manager.ts): `held` labels the
 * version MTLSGW_HELD, `installed` moves MTLSGW_LAST_GOOD onto it. Other kinds keep no labels.
 */
export async function labelSourceVersion(
  source: Source,
  decision: 'held' | 'installed',
  versionId: string,
): Promise<boolean> {
  if (source.kind !== 'secretsmanager') return false;
  const { moveSecretStage, HELD_STAGE, LAST_GOOD_STAGE } = await import('./secrets-manager.js');
  await moveSecretStage(source.secretId, decision === 'held' ? HELD_STAGE : LAST_GOOD_STAGE, versionId);
  return true;
}

/**
 * The AWS SDK clients are loaded on first use: together they add about 29 MB of RSS to a process,
 * which a gateway reading files, and every cluster worker (the primary polls for them), never needs.
 */
export async function fetchSource(source: Source, options: FetchOptions = {}): Promise<FetchResult> {
  const name = describeSource(source);
  switch (source.kind) {
    case 'file':
      return fetchFile(name, source.path, options);
    case 'secretsmanager': {
      const { fetchSecret } = await import('./secrets-manager.js');
      return fetchSecret(name, source.secretId, options);
    }
    case 'https':
      return fetchHttps(name, source.url, options);
    case 's3': {
      const { fetchS3 } = await import('./s3.js');
      return fetchS3(name, source.bucket, source.key, options);
    }
  }
}
