/**
 * The S3 edge of `crl push`: reading the object the gateway reads (with its own S3 source, so the
 * comparison is against what is in force) and writing a new one. Configured as the gateway's S3
 * source: default credential chain and region, AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL honoured
 * (path-style then).
 */
import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { fetchSource, isUnchanged, SourceError } from '../trust/sources/index.js';

export interface CurrentObject {
  readonly version: string;
  readonly bytes: Buffer;
}

/** The object as the gateway reads it, or undefined when there is none yet. */
export async function readCurrentObject(bucket: string, key: string): Promise<CurrentObject | undefined> {
  let fetched: Awaited<ReturnType<typeof fetchSource>>;
  try {
    fetched = await fetchSource({ kind: 's3', bucket, key });
  } catch (err) {
    if (err instanceof SourceError && (err.code === 'NoSuchKey' || err.code === 'NotFound')) return undefined;
    throw err;
  }
  if (isUnchanged(fetched)) throw new Error('unexpected unchanged answer'); // no known version was given
  return { version: fetched.version, bytes: fetched.bytes };
}

/** Writes the object; returns its new ETag. */
export async function writeObject(bucket: string, key: string, bytes: Buffer): Promise<string> {
  const env = process.env;
  const custom = Boolean(env.AWS_ENDPOINT_URL_S3 ?? env.AWS_ENDPOINT_URL);
  const client = new S3Client({ maxAttempts: 2, forcePathStyle: custom });
  try {
    const out = await client.send(
      new PutObjectCommand({
        Bucket: bucket,
        Key: key,
        Body: bytes,
        ContentType: bytes[0] === 0x30 ? 'application/pkix-crl' : 'application/x-pem-file',
      }),
    );
    return out.ETag ?? '(no ETag)';
  } finally {
    client.destroy();
  }
}
