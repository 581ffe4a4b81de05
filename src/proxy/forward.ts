/**
 * Forwarding one request to an upstream with undici: a keep-alive pool per origin, and one
 * ProxyExchange per request (undici's dispatch handler), with bodies streamed both ways, timeouts
 * bounded, a client abort aborting the upstream request, and every upstream failure mapped to a
 * stable kind so the caller answers 502/504 with a request id.
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

/**
 * What a ProxyExchange's owner supplies, once per request handler (shared by every exchange: no
 * closure per request). `C` is the owner's per-request context (request id, route, log fields).
 */
export interface ExchangeHooks<C> {
  /**
   * Adds the gateway's own response headers to the upstream's (after hop-by-hop removal). Called as
   * the response starts, so a drain begun meanwhile can still add `Connection: close`.
   */
  readonly responseHeaders: (context: C, headers: Record<string, string | string[]>) => void;
  /**
   * Called exactly once per exchange. `failure`: nothing was written to the client yet (the owner
   * answers 502/504/413, or logs 499 for `client_aborted`). Without it the response went out:
   * `status`, `bytesOut`, `upstreamMs` are final and `truncated` says whether it was cut.
   */
  readonly done: (exchange: ProxyExchange<C>, failure: UpstreamFailure | undefined) => void;
}

/** The exchange a response belongs to, for the listeners shared by every exchange. */
const EXCHANGE = Symbol('proxyExchange');
type ExchangeResponse = ServerResponse & { [EXCHANGE]?: ProxyExchange<unknown> };

/** The client's connection closed (shared listener: `this` is the response). */
function onClientClose(this: ExchangeResponse): void {
  this[EXCHANGE]?.clientClosed();
}
/** The client caught up: read the upstream again (shared listener: `this` is the response). */
function onClientDrain(this: ExchangeResponse): void {
  this[EXCHANGE]?.resumeUpstream();
}

/**
 * One proxied request: undici's dispatch handler for the upstream request and the writer of the
 * client's response, with the result fields the owner logs. Bodies stream both ways (never
 * buffered), backpressure passes straight through (a slow client pauses the upstream read), a
 * client that goes away aborts the upstream request, and every upstream failure is mapped to a
 * stable kind. Finishes through `hooks.done`: no Promise, closure or AbortController per request,
 * one `close` listener (shared) on the response.
 */
export class ProxyExchange<C> implements Dispatcher.DispatchHandler {
  status = 0;
  upstreamMs = 0;
  bytesOut = 0;
  /** Set when the upstream broke or stalled mid-body: the client's response was aborted. */
  truncated: Truncation | undefined = undefined;
  private controller: Dispatcher.DispatchController | undefined = undefined;
  private settled = false;
  private started = 0;

  constructor(
    readonly req: IncomingMessage,
    readonly res: ServerResponse,
    readonly context: C,
    private readonly hooks: ExchangeHooks<C>,
  ) {}

  /** Called by Upstream.dispatch just before the request is handed to undici. */
  begin(): void {
    this.started = performance.now();
    (this.res as ExchangeResponse)[EXCHANGE] = this as ProxyExchange<unknown>;
    // Left attached once settled (a no-op then): the response is gone with the request.
    this.res.once('close', onClientClose);
  }

  private settle(failure: UpstreamFailure | undefined): void {
    if (this.settled) return;
    this.settled = true;
    this.hooks.done(this, failure);
  }

  /** @internal the shared close listener */
  clientClosed(): void {
    if (this.settled || this.res.writableFinished) return;
    this.controller?.abort(new Error('client closed the connection'));
    this.settle(new UpstreamFailure('other', 'upstream_unavailable', 'client_aborted'));
  }

  /** @internal the shared drain listener */
  resumeUpstream(): void {
    this.controller?.resume();
  }

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.controller = controller;
    if (this.res.destroyed) controller.abort(new Error('client closed the connection'));
  }

  onResponseStart(
    _controller: Dispatcher.DispatchController,
    statusCode: number,
    upstreamHeaders: Record<string, string | string[] | undefined>,
  ): void {
    if (statusCode < 200) return; // 1xx informational: not relayed
    this.status = statusCode;
    this.upstreamMs = performance.now() - this.started;
    const headers = downstreamHeaders(upstreamHeaders);
    this.hooks.responseHeaders(this.context, headers);
    this.res.writeHead(statusCode, headers);
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    this.bytesOut += chunk.length;
    if (!this.res.write(chunk)) {
      controller.pause();
      this.res.once('drain', onClientDrain);
    }
  }

  onResponseEnd(): void {
    this.res.end();
    this.settle(undefined);
  }

  onResponseError(_controller: Dispatcher.DispatchController, err: Error): void {
    if (this.settled) return;
    if (this.res.headersSent) {
      // Upstream broke or stalled mid-body: the client's connection is aborted (never a clean
      // end, so the client sees the truncation) and the owner logs and counts it.
      this.res.destroy();
      this.truncated = truncation(err);
      this.settle(undefined);
      return;
    }
    this.settle(classify(err));
  }
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
   * Sends the exchange's request upstream (`headers` as built by upstreamHeaders, `path` the target
   * to forward) and streams the answer into its response; `body` replaces the request stream when
   * it must pass through a size limiter. The exchange reports through its hooks' `done`.
   */
  dispatch<C>(exchange: ProxyExchange<C>, headers: string[], path: string, body?: Readable): void {
    const req = exchange.req;
    const hasBody =
      req.headers['content-length'] !== undefined
        ? req.headers['content-length'] !== '0'
        : req.headers['transfer-encoding'] !== undefined;
    exchange.begin();
    this.pool.dispatch(
      { path, method: req.method ?? 'GET', headers, body: hasBody ? (body ?? req) : null },
      exchange,
    );
  }

  close(): Promise<void> {
    return this.pool.close();
  }

  destroy(): Promise<void> {
    return this.pool.destroy();
  }
}
