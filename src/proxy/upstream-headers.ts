/**
 * Header hygiene for the upstream request: every identity header a client sent (of every format,
 * enabled or not) and every hop-by-hop header is dropped, then ours are added. X-Forwarded-For is
 * replaced, never appended; X-Request-Id is kept only if it is a sane token.
 */
import { randomUUID } from 'node:crypto';
import { hopByHopNames, isHopByHop, isIdentityHeader } from '../identity/strip.js';

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/** Headers we always set ourselves, so a client's copy is dropped. */
const OURS = new Set(['x-forwarded-for', 'x-forwarded-proto', 'x-request-id', 'expect']);

export function requestIdFrom(value: string | string[] | undefined): string {
  return typeof value === 'string' && REQUEST_ID.test(value) ? value : randomUUID();
}

/**
 * Builds the flat `[name, value, …]` list undici sends, from the client's raw headers.
 * `identity` pairs were computed once per connection.
 */
export function upstreamHeaders(
  rawHeaders: readonly string[],
  connectionHeader: string | undefined,
  identity: readonly (readonly [string, string])[],
  clientAddress: string,
  requestId: string,
): string[] {
  const hop = hopByHopNames(connectionHeader);
  const out: string[] = [];
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
    const name = rawHeaders[i]!.toLowerCase();
    if (isHopByHop(name, hop) || OURS.has(name) || isIdentityHeader(name)) continue;
    out.push(name, rawHeaders[i + 1]!);
  }
  for (const [name, value] of identity) out.push(name, value);
  out.push('x-forwarded-for', clientAddress, 'x-forwarded-proto', 'https', 'x-request-id', requestId);
  return out;
}

const RESPONSE_HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-authenticate',
  'proxy-connection',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
]);

/** Upstream response headers minus hop-by-hop ones (including names its Connection lists). */
export function downstreamHeaders(
  headers: Record<string, string | string[] | undefined>,
): Record<string, string | string[]> {
  const listed = hopByHopNames(typeof headers.connection === 'string' ? headers.connection : undefined);
  const out: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined || RESPONSE_HOP_BY_HOP.has(name) || listed.has(name)) continue;
    out[name] = value;
  }
  return out;
}
