/**
 * Every request limit in one place: what each one bounds, who enforces it and how it is answered.
 * config/config.ts parses the variables; the listener applies the ones Node's HTTP server checks
 * (header section size, header and request timeouts, keep-alive, requests per connection), the
 * request handler the ones it checks before forwarding (header count, target length, body size),
 * the authorizer the maximum connection age, and the client-error responder maps what Node's
 * parser refused to our error codes. A request over any limit is never forwarded.
 */
import type { IncomingMessage, Server, ServerOptions, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { type Readable, Transform } from 'node:stream';
import type { Config } from '../config/config.js';
import type { GatewayErrorCode } from './errors.js';

export interface RequestLimits {
  /** GATEWAY_MAX_HEADERS: header fields per request; more: 431 too_many_headers. */
  readonly maxHeaders: number;
  /** GATEWAY_MAX_HEADER_BYTES: the whole header section (Node's parser); more: 431 headers_too_large. */
  readonly maxHeaderBytes: number;
  /** GATEWAY_MAX_URL_BYTES: the request target; longer: 414 uri_too_long. */
  readonly maxUrlBytes: number;
  /** GATEWAY_MAX_BODY_BYTES: the body; larger: 413 (before forwarding when Content-Length says so). */
  readonly maxBodyBytes: number;
  /** GATEWAY_REQUEST_TIMEOUT_SECONDS: a whole request (headers within min(20 s, it)); later: 408. */
  readonly requestTimeoutSeconds: number;
  /** GATEWAY_KEEPALIVE_TIMEOUT_SECONDS: an idle keep-alive connection is closed after it. */
  readonly keepAliveTimeoutSeconds: number;
  /** GATEWAY_MAX_REQUESTS_PER_CONNECTION: the last answer carries Connection: close (0 = no limit). */
  readonly maxRequestsPerConnection: number;
  /** GATEWAY_MAX_CONNECTION_AGE_SECONDS: past it, the next answer carries Connection: close. */
  readonly maxConnectionAgeSeconds: number;
}

export function requestLimitsOf(
  config: Pick<Config, 'maxHeaders' | 'maxHeaderBytes' | 'limits'>,
): RequestLimits {
  const { limits } = config;
  return {
    maxHeaders: config.maxHeaders,
    maxHeaderBytes: config.maxHeaderBytes,
    maxUrlBytes: limits.maxUrlBytes,
    maxBodyBytes: limits.maxBodyBytes,
    requestTimeoutSeconds: limits.requestTimeoutSeconds,
    keepAliveTimeoutSeconds: limits.keepAliveTimeoutSeconds,
    maxRequestsPerConnection: limits.maxRequestsPerConnection,
    maxConnectionAgeSeconds: limits.maxConnectionAgeSeconds,
  };
}

/** The HTTP server options through which Node's parser enforces the limits it checks itself. */
export function serverLimitOptions(
  l: RequestLimits,
): Pick<
  ServerOptions,
  'maxHeaderSize' | 'keepAliveTimeout' | 'headersTimeout' | 'requestTimeout' | 'connectionsCheckingInterval'
> {
  return {
    maxHeaderSize: l.maxHeaderBytes,
    // Idle keep-alive below the NLB's 350 s idle timeout, so we close first and cleanly.
    keepAliveTimeout: l.keepAliveTimeoutSeconds * 1000,
    headersTimeout: Math.min(20, l.requestTimeoutSeconds) * 1000,
    requestTimeout: l.requestTimeoutSeconds * 1000,
    // How often Node looks for requests past their timeout (its default is 30 s).
    connectionsCheckingInterval: Math.min(5_000, l.requestTimeoutSeconds * 500),
  };
}

/** The limits set on the server object itself; call after the request handler is registered. */
export function applyServerLimits(server: Server, l: RequestLimits): void {
  // Node drops headers beyond maxHeadersCount silently; allow one more so we can see and refuse.
  server.maxHeadersCount = l.maxHeaders + 1;
  // Node answers the request after the last allowed one with 503 and closes; the last allowed
  // one already carries Connection: close.
  server.maxRequestsPerSocket = l.maxRequestsPerConnection;
  if (l.maxRequestsPerConnection > 0) {
    // Node only marks that last answer Connection: close; we also close after it is sent.
    const served = new WeakMap<Socket, number>();
    server.on('request', (req: IncomingMessage, res: ServerResponse) => {
      const n = (served.get(req.socket) ?? 0) + 1;
      served.set(req.socket, n);
      if (n >= l.maxRequestsPerConnection) res.once('finish', () => req.socket.end());
    });
  }
}

/**
 * The first check a request on a verified connection fails before it may be forwarded, in this
 * order, or undefined. Besides the limits: HTTP/1.0 or 1.1 only (llhttp also parses 0.9 and 2.0
 * request lines), at most one Host, exactly one in 1.1 (RFC 9112 §3.2: a second Host is how a
 * front and a back disagree), and origin-form targets only (absolute-form and authority-form are
 * a proxying/smuggling vector).
 */
export function requestRefusal(
  req: IncomingMessage,
  l: RequestLimits,
): 'too_many_headers' | 'bad_request' | 'uri_too_long' | 'payload_too_large' | undefined {
  if (req.rawHeaders.length / 2 > l.maxHeaders) return 'too_many_headers';
  let hosts = 0;
  for (let i = 0; i < req.rawHeaders.length; i += 2) {
    if (req.rawHeaders[i]!.length === 4 && req.rawHeaders[i]!.toLowerCase() === 'host') hosts++;
  }
  if (req.httpVersionMajor !== 1 || hosts > 1 || (hosts === 0 && req.httpVersionMinor === 1)) {
    return 'bad_request';
  }
  const path = req.url ?? '';
  if (path.length > l.maxUrlBytes) return 'uri_too_long';
  if (!path.startsWith('/')) return 'bad_request';
  const declaredLength = req.headers['content-length'];
  if (declaredLength !== undefined && Number(declaredLength) > l.maxBodyBytes) return 'payload_too_large';
  return undefined;
}

/** Errors the body limiter raises mid-stream; forward() turns it into a 413. */
class BodyTooLarge extends Error {
  readonly code = 'PAYLOAD_TOO_LARGE';
}

/**
 * The body to forward, bounded: a chunked body passes through a limiter that fails once it exceeds
 * maxBodyBytes (undici then aborts); undefined for a body with Content-Length (checked above) or none.
 */
export function limitedBody(req: IncomingMessage, l: RequestLimits): Readable | undefined {
  const chunked =
    req.headers['content-length'] === undefined && req.headers['transfer-encoding'] !== undefined;
  if (!chunked) return undefined;
  const max = l.maxBodyBytes;
  let seen = 0;
  const limiter = new Transform({
    transform(chunk: Buffer, _enc, done) {
      seen += chunk.length;
      done(seen > max ? new BodyTooLarge(`request body over ${max} bytes`) : null, chunk);
    },
  });
  req.on('error', (err) => limiter.destroy(err));
  return req.pipe(limiter);
}

/** Whether a connection verified at `establishedAt` is past GATEWAY_MAX_CONNECTION_AGE_SECONDS. */
export function pastMaxAge(
  establishedAt: number,
  l: Pick<RequestLimits, 'maxConnectionAgeSeconds'>,
  now: number = Date.now(),
): boolean {
  return now - establishedAt > l.maxConnectionAgeSeconds * 1000;
}

/** What a request Node's parser refused is answered as: an oversized header section, a timeout, else malformed. */
export function parserRefusal(code: string | undefined): GatewayErrorCode {
  return code === 'HPE_HEADER_OVERFLOW'
    ? 'headers_too_large'
    : code === 'ERR_HTTP_REQUEST_TIMEOUT'
      ? 'request_timeout'
      : 'bad_request';
}
