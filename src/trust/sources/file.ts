/** File sources: versioned by content hash, so an unchanged file is never parsed again. */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { MAX_SOURCE_BYTES, SourceError } from './source-error.js';
import type { FetchOptions, FetchResult } from './types.js';

export async function fetchFile(name: string, path: string, options: FetchOptions): Promise<FetchResult> {
  let bytes: Buffer;
  try {
    bytes = await readFile(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'EIO';
    throw new SourceError(name, code, code === 'ENOENT' ? 'file not found' : `cannot read (${code})`);
  }
  if (bytes.length > MAX_SOURCE_BYTES) {
    throw new SourceError(name, 'TOO_LARGE', `larger than ${MAX_SOURCE_BYTES} bytes`);
  }
  const version = createHash('sha256').update(bytes).digest('hex').slice(0, 16);
  if (version === options.knownVersion) return { unchanged: true, version, labels: [] };
  return { bytes, version, labels: [] };
}
