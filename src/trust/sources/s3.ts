/**
 * S3 sources (CRLs): GetObject with If-None-Match on the last ETag, so an unchanged object costs a
 * 304 and no transfer. Region and credentials from the SDK's default chain; AWS_ENDPOINT_URL_S3
 * points it elsewhere.
 */
import { GetObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { awsSourceError } from './aws-error.js';
import { MAX_SOURCE_BYTES, SourceError } from './source-error.js';
import { DEFAULT_TIMEOUT_MS, type FetchOptions, type FetchResult } from './types.js';

let shared: { key: string; client: S3Client } | undefined;

function client(): S3Client {
  const env = process.env;
  const key = [env.AWS_REGION, env.AWS_ENDPOINT_URL_S3, env.AWS_ENDPOINT_URL].join('|');
  if (shared?.key !== key) {
    shared?.client.destroy();
    // A custom endpoint (VPC endpoint, local test server) is addressed path-style.
    const custom = Boolean(env.AWS_ENDPOINT_URL_S3 ?? env.AWS_ENDPOINT_URL);
    shared = { key, client: new S3Client({ maxAttempts: 2, forcePathStyle: custom }) };
  }
  return shared.client;
}

export async function fetchS3(
  name: string,
  bucket: string,
  key: string,
  options: FetchOptions,
): Promise<FetchResult> {
  const signal = AbortSignal.timeout(options.timeoutMs ?? DEFAULT_TIMEOUT_MS);
  try {
    const out = await client().send(
      new GetObjectCommand({ Bucket: bucket, Key: key, IfNoneMatch: options.knownVersion }),
      { abortSignal: signal },
    );
    if ((out.ContentLength ?? 0) > MAX_SOURCE_BYTES) {
      out.Body?.transformToWebStream().cancel();
      throw new SourceError(name, 'TOO_LARGE', `larger than ${MAX_SOURCE_BYTES} bytes`);
    }
    const bytes = Buffer.from((await out.Body?.transformToByteArray()) ?? []);
    if (bytes.length === 0) throw new SourceError(name, 'EMPTY_OBJECT', 'the object is empty');
    return { bytes, version: out.ETag ?? `len-${bytes.length}`, labels: [] };
  } catch (err) {
    if (err instanceof SourceError) throw err;
    const status = (err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
    if (status === 304 && options.knownVersion !== undefined) {
      return { unchanged: true, version: options.knownVersion, labels: [] };
    }
    throw awsSourceError(name, err, signal);
  }
}
