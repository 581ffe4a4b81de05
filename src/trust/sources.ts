/**
 * Reading a trust-material source. Each read returns the bytes and a version (content hash or the
 * provider's version id), so the store can tell "unchanged" from "changed" cheaply. A failure is a
 * SourceError naming the source; it never yields empty or partial bytes.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { Source } from '../config/config.js';

export class SourceError extends Error {
  override readonly name = 'SourceError';
  constructor(
    readonly source: string,
    readonly code: string,
    message: string,
  ) {
    super(`${source}: ${message}`);
  }
}

export interface Fetched {
  readonly bytes: Buffer;
  readonly version: string;
}

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

/** The largest trust file we read (a 1M-entry CRL is ~40 MB); anything bigger is refused. */
const MAX_BYTES = 256 * 1024 * 1024;

export async function fetchSource(source: Source): Promise<Fetched> {
  const name = describeSource(source);
  if (source.kind !== 'file') {
    throw new SourceError(
      name,
      'UNSUPPORTED_SOURCE',
      `${source.kind} sources are not implemented in this build`,
    );
  }
  let bytes: Buffer;
  try {
    bytes = await readFile(source.path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'EIO';
    throw new SourceError(name, code, code === 'ENOENT' ? 'file not found' : `cannot read (${code})`);
  }
  if (bytes.length > MAX_BYTES) throw new SourceError(name, 'TOO_LARGE', `larger than ${MAX_BYTES} bytes`);
  return { bytes, version: createHash('sha256').update(bytes).digest('hex').slice(0, 16) };
}
