/**
 * The per-request path: ask the connection's current verdict (re-checked after trust changes),
 * refuse or explain, apply limits, then forward with our identity headers. A request reaches
 * `Upstream.forward` only with identity headers from a verified connection; every other outcome
 * is answered here, logged (`event: "request"`) and counted.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { type Readable, Transform } from 'node:stream';
import type { Logger, Metrics } from '../observability/index.js';
import {
  type ErrorBody,
  GATEWAY_ERRORS,
  type GatewayErrorCode,
  type ProblemFormat,
  prefersProblemJson,
  sendJsonError,
} from './errors.js';
import { type ExchangeHooks, ProxyExchange, type Upstream, type UpstreamFailure } from './forward.js';
import { traceContextOf } from './trace-context.js';
import {
  requestIdFrom,
  type UpstreamHeaderOptions,
  upstreamHeadersCountingHosts,
} from './upstream-headers.js';

export type ConnectionDecision =
  | {
      readonly ok: true;
      readonly identityHeaders: readonly (readonly [string, string])[];
      readonly partnerId: string;
      readonly clientAddress: string;
      /** The route the policy selected (metrics, logs) and its upstream; default: 'default', opts.upstream. */
      readonly route?: string;
      readonly upstream?: Upstream;
      /** The request target to forward: the normalized path that was routed, and the query. */
      readonly target?: string;
      /** Bounded partner label for mtls_gateway_partner_requests_total (declared id or `undeclared`). */
      readonly partnerLabel?: string;
      /** Answered by the gateway itself with this JSON (whoami), never forwarded. */
      readonly local?: (requestId: string) => unknown;
      /** The connection is past its maximum age: this answer carries Connection: close. */
      readonly closeAfter?: boolean;
    }
  | {
      readonly ok: false;
      /**
       * This answer is the connection's last (strict mode): it carries Connection: close and the
       * connection closes after it; false (explain mode, authorization): the connection stays open.
       */
      readonly close: boolean;
      readonly status: number;
      readonly error: string;
      /** The problem+json `title` (one per error code); default: the status's reason phrase. */
      readonly title?: string;
      readonly message: string;
      readonly details: Readonly<Record<string, string>>;
      readonly partnerId?: string;
      readonly route?: string;
      readonly partnerLabel?: string;
    };

export interface RequestLimits {
  readonly maxUrlBytes: number;
  readonly maxBodyBytes: number;
}

/** Errors the body limiter raises mid-stream; forward() turns it into a 413. */
class BodyTooLarge extends Error {
  readonly code = 'PAYLOAD_TOO_LARGE';
}

/** Passes a chunked body through, failing once it exceeds `max` bytes (undici then aborts). */
function limitBody(req: IncomingMessage, max: number): Readable {
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

export interface RequestHandlerOptions {
  readonly decide: (req: IncomingMessage) => ConnectionDecision;
  readonly upstream: Upstream;
  readonly maxHeaders: number;
  readonly limits: RequestLimits;
  /** GATEWAY_UNDERSCORE_HEADERS, and whether the `forwarded` identity format is on. */
  readonly headerOptions?: UpstreamHeaderOptions;
  readonly isDraining: () => boolean;
  readonly metrics: Metrics;
  readonly logger: Logger;
}

const ROUTE = 'default';

/** RFC 9457 problem+json when the client's Accept prefers it (else undefined: today's JSON). */
function problemFormat(req: IncomingMessage, title?: string): ProblemFormat | undefined {
  if (!prefersProblemJson(req.headers.accept)) return undefined;
  return title === undefined ? {} : { title };
}

/** One route's metric children, resolved once (routes, codes and partners are bounded sets). */
class RouteMetrics {
  readonly duration: { observe(seconds: number): void };
  private readonly byCode = new Map<string, { inc(): void }>();
  private readonly byPartner = new Map<string, Map<string, { inc(): void }>>();

  constructor(
    private readonly metrics: Metrics,
    readonly route: string,
  ) {
    this.duration = metrics.requestDuration.labels({ route });
  }

  count(code: string, partner: string | undefined): void {
    let all = this.byCode.get(code);
    if (!all) {
      all = this.metrics.requests.labels({ route: this.route, code });
      this.byCode.set(code, all);
    }
    all.inc();
    if (partner === undefined) return;
    let codes = this.byPartner.get(partner);
    if (!codes) {
      codes = new Map();
      this.byPartner.set(partner, codes);
    }
    let one = codes.get(code);
    if (!one) {
      one = this.metrics.partnerRequests.labels({ partner, route: this.route, code });
      codes.set(code, one);
    }
    one.inc();
  }
}

/** What one request's log line and metrics need; also the context of its ProxyExchange. */
class RequestState {
  upstreamMs: number | undefined = undefined;
  bytesOut = 0;
  reason: string | undefined = undefined;
  /** What the upstream said when it cut a response (logged with a truncation's reason). */
  upstreamError: string | undefined = undefined;
  /** Host headers the client sent (counted in the one walk that builds the upstream headers). */
  hosts = 0;

  constructor(
    readonly req: IncomingMessage,
    readonly res: ServerResponse,
    readonly started: number,
    readonly requestId: string,
    readonly traceId: string,
    readonly decision: ConnectionDecision,
    readonly route: RouteMetrics,
  ) {}
}

export function createRequestHandler(
  opts: RequestHandlerOptions,
): (req: IncomingMessage, res: ServerResponse) => void {
  return new RequestHandler(opts).handle;
}

class RequestHandler {
  private readonly routes = new Map<string, RouteMetrics>();
  // Connections whose current answer closes them. Node still parses and emits requests pipelined
  // behind such an answer (their responses are never written): they must not reach the upstream.
  private readonly closing = new WeakSet<Socket>();
  /** Connections whose one request pipelined behind their closing answer was already logged. */
  private readonly pipelinedLogged = new WeakSet<Socket>();
  /** Shared by every exchange: the gateway's response headers, and each exchange's end. */
  private readonly hooks: ExchangeHooks<RequestState>;
  private readonly headerOptions: UpstreamHeaderOptions;

  constructor(private readonly opts: RequestHandlerOptions) {
    this.headerOptions = opts.headerOptions ?? { underscores: 'drop', forwarded: false };
    this.hooks = {
      responseHeaders: (state, headers) => {
        headers['x-request-id'] = state.requestId;
        if (opts.isDraining() || (state.decision.ok && state.decision.closeAfter))
          headers.connection = 'close';
      },
      done: (exchange, failure) => this.exchangeDone(exchange, failure),
    };
  }

  private routeMetrics(route: string): RouteMetrics {
    let m = this.routes.get(route);
    if (!m) {
      m = new RouteMetrics(this.opts.metrics, route);
      this.routes.set(route, m);
    }
    return m;
  }

  readonly handle = (req: IncomingMessage, res: ServerResponse) => {
    const { opts } = this;
    // Pipelined behind an answer that closes the connection (RFC 9112 §9.6): never processed, not
    // even decided. Only the first is logged and counted: a client (refused, with no certificate)
    // must not turn one connection into thousands of log lines before it closes.
    if (this.closing.has(req.socket)) {
      if (this.pipelinedLogged.has(req.socket)) return;
      this.pipelinedLogged.add(req.socket);
      this.routeMetrics(ROUTE).count('0', undefined);
      opts.logger.info({
        event: 'request',
        request_id: requestIdFrom(req.headers['x-request-id']),
        client: req.socket.remoteAddress,
        method: req.method,
        path: req.url,
        route: ROUTE,
        status: 0,
        reason: 'after_connection_close',
        bytes_out: 0,
      });
      return;
    }
    const started = performance.now();
    const requestId = requestIdFrom(req.headers['x-request-id']);
    const trace = traceContextOf(req.headers.traceparent);
    const decision = opts.decide(req);
    const state = new RequestState(
      req,
      res,
      started,
      requestId,
      trace.traceId,
      decision,
      this.routeMetrics(decision.route ?? ROUTE),
    );

    // The client's Connection: close (or HTTP/1.0), drain and maximum age end the connection here too.
    if (!res.shouldKeepAlive || opts.isDraining() || (decision.ok && decision.closeAfter))
      this.markClosing(state);
    if (!decision.ok) {
      state.reason = decision.error;
      // Strict: the one readable answer (as nginx's 400), with Connection: close, then the
      // connection closes; requests pipelined behind it are never answered (the closing set above).
      if (decision.close) this.markClosing(state);
      const body: ErrorBody = {
        error: decision.error,
        message: decision.message,
        request_id: requestId,
        ...decision.details,
      };
      state.bytesOut = sendJsonError(res, decision.status, body, {}, problemFormat(req, decision.title));
      this.finish(state, decision.status);
      return;
    }
    if (req.rawHeaders.length / 2 > opts.maxHeaders) return this.answer(state, 'too_many_headers');
    // The upstream's headers, built in the same walk that counts the Host headers checked below.
    const headers = upstreamHeadersCountingHosts(
      req.rawHeaders,
      req.headers.connection,
      decision.identityHeaders,
      decision.clientAddress,
      requestId,
      trace.replacement === undefined
        ? this.headerOptions
        : { underscores: 'drop', forwarded: false, ...opts.headerOptions, traceparent: trace.replacement },
      state,
    );
    // HTTP/1.0 or 1.1 only (llhttp also parses 0.9 and 2.0 request lines), with at most one Host,
    // exactly one in 1.1 (RFC 9112 §3.2): a second Host is how a front and a back disagree.
    const hosts = state.hosts;
    if (req.httpVersionMajor !== 1 || hosts > 1 || (hosts === 0 && req.httpVersionMinor === 1)) {
      return this.answer(state, 'bad_request');
    }
    const path = req.url ?? '';
    if (path.length > opts.limits.maxUrlBytes) return this.answer(state, 'uri_too_long');
    // Origin-form only: absolute-form and authority-form targets are a proxying/smuggling vector.
    if (!path.startsWith('/')) return this.answer(state, 'bad_request');
    const declaredLength = req.headers['content-length'];
    if (declaredLength !== undefined && Number(declaredLength) > opts.limits.maxBodyBytes) {
      return this.answer(state, 'payload_too_large');
    }
    const chunked = declaredLength === undefined && req.headers['transfer-encoding'] !== undefined;
    const body = chunked ? limitBody(req, opts.limits.maxBodyBytes) : undefined;
    if (decision.local) {
      const payload = JSON.stringify(decision.local(requestId), null, 2);
      res.writeHead(200, {
        'content-type': 'application/json',
        'content-length': Buffer.byteLength(payload),
        'cache-control': 'no-store',
        'x-request-id': requestId,
      });
      res.end(payload);
      this.finish(state, 200);
      return;
    }
    const exchange = new ProxyExchange(req, res, state, this.hooks);
    (decision.upstream ?? opts.upstream).dispatch(exchange, headers, decision.target ?? path, body);
  };

  private exchangeDone(exchange: ProxyExchange<RequestState>, failure: UpstreamFailure | undefined): void {
    const state = exchange.context;
    if (failure === undefined) {
      state.upstreamMs = exchange.upstreamMs;
      state.bytesOut = exchange.bytesOut;
      const truncated = exchange.truncated;
      if (truncated) {
        // The status stays the one the client saw; the reason says it was cut.
        state.reason = truncated.reason;
        state.upstreamError = truncated.causeCode;
        if (truncated.kind)
          this.opts.metrics.upstreamErrors.inc({ route: state.route.route, kind: truncated.kind });
      }
      this.finish(state, exchange.status);
      return;
    }
    if (failure.causeCode === 'client_aborted') {
      state.reason = 'client_aborted';
      this.finish(state, 499);
      return;
    }
    if (failure.code === 'payload_too_large') {
      this.answer(state, 'payload_too_large');
      return;
    }
    this.opts.metrics.upstreamErrors.inc({ route: state.route.route, kind: failure.kind });
    this.answer(state, failure.code, `${failure.code}: ${failure.causeCode}`);
  }

  private finish(state: RequestState, status: number): void {
    const { req, decision } = state;
    state.route.count(String(status), decision.partnerLabel);
    const now = performance.now();
    state.route.duration.observe((now - state.started) / 1000);
    const logger = this.opts.logger;
    // A truncated response is an upstream failure the client saw as a cut: a warning.
    (state.upstreamError === undefined ? logger.info : logger.warn).call(logger, {
      event: 'request',
      request_id: state.requestId,
      trace_id: state.traceId,
      partner_id: decision.partnerId,
      client: decision.ok ? decision.clientAddress : req.socket.remoteAddress,
      method: req.method,
      path: req.url,
      forwarded_path: decision.ok && decision.target !== req.url ? decision.target : undefined,
      route: state.route.route,
      status,
      reason: state.reason,
      upstream_error: state.upstreamError,
      upstream_ms: state.upstreamMs === undefined ? undefined : Math.round(state.upstreamMs * 1000) / 1000,
      bytes_in: Number(req.headers['content-length'] ?? 0) || undefined,
      bytes_out: state.bytesOut,
      duration_ms: Math.round((now - state.started) * 1000) / 1000,
    });
  }

  /**
   * Marks the connection as ending with this answer, and says so on the answer itself: every
   * answer (forwarded, refusal, local, the gateway's own errors) then carries Connection: close,
   * so no client sends a next request that would be parked unanswered and counted in flight.
   */
  private markClosing(state: RequestState): void {
    this.closing.add(state.req.socket);
    if (!state.res.headersSent) state.res.setHeader('connection', 'close');
  }

  private answer(state: RequestState, code: GatewayErrorCode, detail?: string): void {
    const e = GATEWAY_ERRORS[code];
    state.reason = detail ?? code;
    // After a refusal whose body we did not read, or a malformed request, the connection closes;
    // so does any answer once a drain has begun.
    if (
      this.opts.isDraining() ||
      code === 'bad_request' ||
      code === 'payload_too_large' ||
      code === 'uri_too_long'
    )
      this.markClosing(state);
    state.bytesOut = sendJsonError(
      state.res,
      e.status,
      { error: code, message: e.message, request_id: state.requestId },
      {},
      problemFormat(state.req),
    );
    this.finish(state, e.status);
  }
}
