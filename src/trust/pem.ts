/**
 * Strict PEM splitting. Every block must decode; text between blocks is reported (a bundle with
 * stray text is often a truncated copy-paste) but only whole, well-formed blocks are returned.
 */
export class PemError extends Error {
  override readonly name = 'PemError';
}

export interface PemBlock {
  readonly label: string;
  readonly der: Buffer;
}

const BLOCK = /-----BEGIN ([A-Z0-9 ]+)-----\r?\n([\s\S]*?)-----END ([A-Z0-9 ]+)-----/g;
const BASE64_BODY = /^[A-Za-z0-9+/=\r\n\t ]*$/;

export function isPem(bytes: Uint8Array): boolean {
  const head = Buffer.from(bytes.subarray(0, 4096)).toString('latin1');
  return head.includes('-----BEGIN ');
}

/** Splits PEM text into blocks; throws PemError on a malformed or unterminated block. */
export function splitPem(text: string): { blocks: PemBlock[]; strayText: boolean } {
  const blocks: PemBlock[] = [];
  let last = 0;
  let strayText = false;
  for (const m of text.matchAll(BLOCK)) {
    const [, label, body, endLabel] = m as unknown as [string, string, string, string];
    if (label !== endLabel)
      throw new PemError(`block ${blocks.length + 1}: BEGIN ${label} ends with END ${endLabel}`);
    if (body.includes('-----BEGIN'))
      throw new PemError(`block ${blocks.length + 1}: BEGIN ${label} is not terminated`);
    if (!BASE64_BODY.test(body)) throw new PemError(`block ${blocks.length + 1} (${label}): not base64`);
    const compact = body.replace(/\s+/g, '');
    if (compact.length === 0 || compact.length % 4 !== 0) {
      throw new PemError(`block ${blocks.length + 1} (${label}): truncated base64`);
    }
    if (text.slice(last, m.index).trim() !== '') strayText = true;
    blocks.push({ label, der: Buffer.from(compact, 'base64') });
    last = m.index + m[0].length;
  }
  const rest = text.slice(last);
  if (rest.includes('-----BEGIN'))
    throw new PemError(`block ${blocks.length + 1}: not terminated (truncated file?)`);
  if (rest.trim() !== '') strayText = true;
  return { blocks, strayText };
}
