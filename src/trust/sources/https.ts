/**
 * https sources (CRLs): conditional GET with If-None-Match on the last ETag (304: unchanged),
 * a whole-request deadline and a size cap enforced while streaming, so a hostile or broken server
 * can neither stall a poll nor make us buffer without bound. No redirects are followed.
 */
import { createHash } from 'node:crypto';
import { Agent, type Dispatcher, request } from 'undici';
import { MAX_SOURCE_BYTES, SourceError } from './source-error.js';
import { DEFAULT_TIMEOUT_MS, type FetchOptions, type FetchResult } from './types.js';

let agent: Dispatcher = new Agent({ connections: 4, keepAliveTimeout: 10_000 });

/** Test seam: trust an extra CA for https sources (a local test server). */
export function setHttpsSourceDispatcher(dispatcher: Dispatcher): void {
  agent = dispatcher;
}

export async function fetchHttps(name: string, url: string, options: FetchOptions): Promise<FetchResult> {
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const signal = AbortSignal.timeout(timeoutMs);
  let res: Dispatcher.ResponseData;
  try {
    res = await request(url, {
      dispatcher: agent,
      signal,
      headersTimeout: timeoutMs,
      bodyTimeout: timeoutMs,
      headers:
        options.knownVersion?.startsWith('"') || options.knownVersion?.startsWith('W/')
          ? { 'if-none-match': options.knownVersion }
          : {},
    });
  } catch (err) {
    throw httpsError(name, err, signal);
  }
  if (res.statusCode === 304 && options.knownVersion !== undefined) {
    await res.body.dump();
    return { unchanged: true, version: options.knownVersion, labels: [] };
  }
  if (res.statusCode !== 200) {
    await res.body.dump();
    throw new SourceError(name, `HTTP_${res.statusCode}`, `answered HTTP ${res.statusCode}`);
  }
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of res.body) {
      size += (chunk as Buffer).length;
      if (size > MAX_SOURCE_BYTES) {
        res.body.destroy();
        throw new SourceError(name, 'TOO_LARGE', `larger than ${MAX_SOURCE_BYTES} bytes`);
      }
      chunks.push(chunk as Buffer);
    }
  } catch (err) {
    throw err instanceof SourceError ? err : httpsError(name, err, signal);
  }
  const bytes = Buffer.concat(chunks);
  if (bytes.length === 0) throw new SourceError(name, 'EMPTY_BODY', 'the response body is empty');
  const etag = res.headers.etag;
  // Without an ETag the content hash is the version (and no conditional request is made).
  const version =
    typeof etag === 'string' && etag !== ''
      ? etag
      : `sha256:${createHash('sha256').update(bytes).digest('hex').slice(0, 16)}`;
  if (version === options.knownVersion) return { unchanged: true, version, labels: [] };
  return { bytes, version, labels: [] };
}

function httpsError(name: string, err: unknown, signal: AbortSignal): SourceError {
  const e = err as { code?: string; name?: string; message?: string };
  if (signal.aborted || e.code === 'UND_ERR_HEADERS_TIMEOUT' || e.code === 'UND_ERR_BODY_TIMEOUT') {
    return new SourceError(name, 'TIMEOUT', 'TIMEOUT: no answer before the source timeout');
  }
  const code = e.code ?? e.name ?? 'NETWORK';
  return new SourceError(name, code, `${code}: ${(e.message ?? '').split('\n')[0]}`);
}
