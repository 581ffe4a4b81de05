/**
 * Forwarding one request to an upstream with undici: a keep-alive pool per origin, bodies streamed
 * both ways (never buffered), timeouts bounded, a client abort aborting the upstream request, and
 * every upstream failure mapped to a stable kind so the caller answers 502/504 with a request id.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Readable } from 'node:stream';
import { buildConnector, type Dispatcher, Pool } from 'undici';
import type { GatewayErrorCode } from './errors.js';
import { skipInterimContinue } from './interim-responses.js';
import { downstreamHeaders } from './upstream-headers.js';

export interface UpstreamTimeouts {
  readonly connectSeconds: number;
  readonly responseSeconds: number;
}

export type UpstreamFailureKind =
  | 'connect'
  | 'connect_timeout'
  | 'timeout'
  | 'reset'
  | 'other'
  | TruncationKind;

/** How a response that had started was cut: its kind in upstream_errors_total. */
export type TruncationKind = 'reset_mid_body' | 'body_timeout';

/** A response cut after its status went out: the client saw `status` and then an aborted connection. */
export interface Truncation {
  /**
   * Its kind in upstream_errors_total; none when the gateway cut it itself (the partner's chunked
   * body passed GATEWAY_MAX_BODY_BYTES): not the upstream's fault, so it must not page its owner.
   */
  readonly kind?: TruncationKind;
  /** The log reason: `upstream_reset_mid_body`, `upstream_body_timeout` or `request_body_too_large`. */
  readonly reason: `upstream_${TruncationKind}` | 'request_body_too_large';
  /** What undici or the socket said (UND_ERR_BODY_TIMEOUT, UND_ERR_SOCKET, ECONNRESET, …). */
  readonly causeCode: string;
}

function truncation(err: unknown): Truncation {
  const causeCode = (err as NodeJS.ErrnoException)?.code ?? (err as Error)?.name ?? 'unknown';
  if (causeCode === 'PAYLOAD_TOO_LARGE') return { reason: 'request_body_too_large', causeCode };
  const kind: TruncationKind = causeCode === 'UND_ERR_BODY_TIMEOUT' ? 'body_timeout' : 'reset_mid_body';
  return { kind, reason: `upstream_${kind}`, causeCode };
}

export class UpstreamFailure extends Error {
  override readonly name = 'UpstreamFailure';
  constructor(
    readonly kind: UpstreamFailureKind,
    readonly code: GatewayErrorCode,
    readonly causeCode: string,
  ) {
    super(`upstream ${kind} (${causeCode})`);
  }
}

function classify(err: unknown): UpstreamFailure {
  const code = (err as NodeJS.ErrnoException)?.code ?? (err as Error)?.name ?? 'unknown';
  switch (code) {
    case 'ECONNREFUSED':
    case 'ENOTFOUND':
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
    case 'EAI_AGAIN':
      return new UpstreamFailure('connect', 'upstream_unavailable', code);
    case 'UND_ERR_CONNECT_TIMEOUT':
      return new UpstreamFailure('connect_timeout', 'upstream_timeout', code);
    case 'UND_ERR_HEADERS_TIMEOUT':
    case 'UND_ERR_BODY_TIMEOUT':
      return new UpstreamFailure('timeout', 'upstream_timeout', code);
    case 'PAYLOAD_TOO_LARGE':
      return new UpstreamFailure('other', 'payload_too_large', code);
    case 'UND_ERR_SOCKET':
    case 'ECONNRESET':
    case 'EPIPE':
      return new UpstreamFailure('reset', 'upstream_reset', code);
    default:
      return new UpstreamFailure('other', 'upstream_unavailable', code);
  }
}

export interface ForwardResult {
  readonly status: number;
  readonly upstreamMs: number;
  readonly bytesOut: number;
  /** Set when the upstream broke or stalled mid-body: the client's response was aborted. */
  readonly truncated?: Truncation;
}

/** Sockets each upstream's pool may open (every one is a file descriptor). */
export const UPSTREAM_POOL_CONNECTIONS = 256;

export class Upstream {
  private readonly pool: Pool;

  constructor(
    readonly origin: URL,
    timeouts: UpstreamTimeouts,
  ) {
    const connect = buildConnector({ timeout: timeouts.connectSeconds * 1000 });
    this.pool = new Pool(origin, {
      connections: UPSTREAM_POOL_CONNECTIONS,
      pipelining: 1,
      keepAliveTimeout: 4_000,
      // Every upstream socket tolerates an unsolicited 100 Continue (RFC 9110 §15.2; undici does not).
      connect: (options, callback) =>
        connect(options, (err, socket) => {
          if (err || !socket) return callback(err ?? new Error('no socket'), null);
          skipInterimContinue(socket as Socket);
          callback(null, socket);
        }),
      headersTimeout: timeouts.responseSeconds * 1000,
      bodyTimeout: timeouts.responseSeconds * 1000,
    });
  }

  /**
   * Sends `req` upstream and streams the answer into `res`. Rejects with UpstreamFailure before any
   * response byte is written; after that a failure cuts the client's response instead.
   *
   * Uses undici's dispatch with a handler rather than `request()`: no AbortController, response
   * stream or pipeline per request, and backpressure passes straight through (a slow client
   * pauses the upstream read, a slow upstream is never buffered ahead).
   */
  forward(
    req: IncomingMessage,
    res: ServerResponse,
    headers: string[],
    path: string,
    /** Called when the response starts, so drain can still add `Connection: close`. */
    responseHeaders: () => Readonly<Record<string, string>>,
    /** The body to send when it is not `req` itself (e.g. through a size limiter). */
    body?: Readable,
  ): Promise<ForwardResult> {
    const started = performance.now();
    const hasBody =
      req.headers['content-length'] !== undefined
        ? req.headers['content-length'] !== '0'
        : req.headers['transfer-encoding'] !== undefined;
    return new Promise<ForwardResult>((resolve, reject) => {
      let controller: Dispatcher.DispatchController | undefined;
      let status = 0;
      let upstreamMs = 0;
      let bytesOut = 0;
      let settled = false;
      const settle = (err?: UpstreamFailure, truncated?: Truncation): void => {
        if (settled) return;
        settled = true;
        res.off('close', onClientClose);
        if (err) reject(err);
        else
          resolve(truncated ? { status, upstreamMs, bytesOut, truncated } : { status, upstreamMs, bytesOut });
      };
      const onClientClose = (): void => {
        if (res.writableFinished) return;
        controller?.abort(new Error('client closed the connection'));
        settle(new UpstreamFailure('other', 'upstream_unavailable', 'client_aborted'));
      };
      res.once('close', onClientClose);
      const handler: Dispatcher.DispatchHandler = {
        onRequestStart(c) {
          controller = c;
          if (res.destroyed) c.abort(new Error('client closed the connection'));
        },
        onResponseStart(_c, statusCode, upstreamHeaders) {
          if (statusCode < 200) return; // 1xx informational: not relayed
          status = statusCode;
          upstreamMs = performance.now() - started;
          res.writeHead(statusCode, { ...downstreamHeaders(upstreamHeaders), ...responseHeaders() });
        },
        onResponseData(c, chunk) {
          bytesOut += chunk.length;
          if (!res.write(chunk)) {
            c.pause();
            res.once('drain', () => c.resume());
          }
        },
        onResponseEnd() {
          res.end();
          settle();
        },
        onResponseError(_c, err) {
          if (settled) return;
          if (res.headersSent) {
            // Upstream broke or stalled mid-body: the client's connection is aborted (never a clean
            // end, so the client sees the truncation) and the caller logs and counts it.
            res.destroy();
            settle(undefined, truncation(err));
            return;
          }
          settle(classify(err));
        },
      };
      this.pool.dispatch(
        { path, method: req.method ?? 'GET', headers, body: hasBody ? (body ?? req) : null },
        handler,
      );
    });
  }

  close(): Promise<void> {
    return this.pool.close();
  }

  destroy(): Promise<void> {
    return this.pool.destroy();
  }
}
