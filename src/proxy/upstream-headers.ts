/**
 * Header hygiene for the upstream request: every identity header a client sent (of every format,
 * enabled or not), every forwarding header and every hop-by-hop header is dropped, in any
 * spelling, then ours are added. X-Forwarded-For is replaced, never appended; X-Request-Id is kept
 * only if it is a sane token.
 */
import { randomUUID } from 'node:crypto';
import type { Config } from '../config/config.js';
import {
  forwardedValue,
  hasDashAlias,
  headerKey,
  hopByHopNames,
  isForwardingKey,
  isHopByHop,
  isIdentityKey,
} from '../identity/index.js';

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/** Headers we always set ourselves (or refuse), so a client's copy is dropped. */
const OURS = new Set(['x-request-id', 'expect']);

/**
 * Names that HTTP framing gives meaning to: their `_` or `.` spelling is never forwarded even when
 * underscores are allowed, so `Content_Length` cannot become a second Content-Length upstream.
 */
const FRAMING = new Set(['content-length', 'content-type', 'content-encoding', 'transfer-encoding']);

/**
 * `drop`: every request header whose name contains `_` or `.` is dropped (nginx's default
 * `underscores_in_headers off`, and `ignore_invalid_headers` for `.`); `allow`: kept unless reserved.
 */
export type UnderscoreHeaders = 'drop' | 'allow';

/** GATEWAY_UNDERSCORE_HEADERS, and whether the `forwarded` identity format is on. */
export function upstreamHeaderOptionsOf(
  config: Pick<Config, 'underscoreHeaders' | 'identityHeaders'>,
): UpstreamHeaderOptions {
  return { underscores: config.underscoreHeaders, forwarded: config.identityHeaders.includes('forwarded') };
}

export interface UpstreamHeaderOptions {
  readonly underscores: UnderscoreHeaders;
  /**
   * A new `traceparent` for a request whose own was missing or malformed: the client's
   * `traceparent` and `tracestate` are dropped and this one is sent (trace-context.ts).
   */
  readonly traceparent?: string | undefined;
  /** Add RFC 7239 `Forwarded: for=…;proto=https` (identity header format `forwarded`). */
  readonly forwarded: boolean;
}

export function requestIdFrom(value: string | string[] | undefined): string {
  return typeof value === 'string' && REQUEST_ID.test(value) ? value : randomUUID();
}

/**
 * Whether a client's request header (its name as sent) may go upstream. Every check is on the
 * `headerKey` form, so case and `_` or `.` for `-` change nothing.
 */
export function mayForwardRequestHeader(
  name: string,
  hop: ReadonlySet<string>,
  underscores: UnderscoreHeaders,
): boolean {
  const lower = name.toLowerCase();
  return mayForwardLower(lower, hasDashAlias(lower), hop, underscores);
}

/** mayForwardRequestHeader for a lower-cased name (`underscore`: it contains `_` or `.`). */
function mayForwardLower(
  lower: string,
  underscore: boolean,
  hop: ReadonlySet<string>,
  underscores: UnderscoreHeaders,
): boolean {
  const key = underscore ? headerKey(lower) : lower;
  if (isHopByHop(key, hop) || OURS.has(key) || isIdentityKey(key) || isForwardingKey(key)) return false;
  return !underscore || (underscores === 'allow' && !FRAMING.has(key));
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
  options: UpstreamHeaderOptions = { underscores: 'drop', forwarded: false },
): string[] {
  const hop = hopByHopNames(connectionHeader);
  const out: string[] = [];
  const newTrace = options.traceparent;
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
    const lower = rawHeaders[i]!.toLowerCase();
    if (!mayForwardLower(lower, hasDashAlias(lower), hop, options.underscores)) continue;
    if (newTrace !== undefined && (lower === 'traceparent' || lower === 'tracestate')) continue;
    out.push(lower, rawHeaders[i + 1]!);
  }
  if (newTrace !== undefined) out.push('traceparent', newTrace);
  for (const [name, value] of identity) out.push(name, value);
  out.push('x-forwarded-for', clientAddress, 'x-forwarded-proto', 'https', 'x-request-id', requestId);
  if (options.forwarded) out.push('forwarded', forwardedValue(clientAddress));
  return out;
}

/**
 * Upstream response headers minus hop-by-hop ones: HOP_BY_HOP and the names its Connection lists
 * (both in `hopByHopNames`), compared in `headerKey` form.
 */
export function downstreamHeaders(
  headers: Record<string, string | string[] | undefined>,
): Record<string, string | string[]> {
  // Repeated Connection lines come as an array: every name any of them lists is hop-by-hop.
  const connection = headers.connection;
  const listed = hopByHopNames(Array.isArray(connection) ? connection.join(',') : connection);
  const out: Record<string, string | string[]> = {};
  for (const name in headers) {
    if (!Object.hasOwn(headers, name)) continue;
    const value = headers[name];
    if (value === undefined || listed.has(headerKey(name))) continue;
    out[name] = value;
  }
  return out;
}
