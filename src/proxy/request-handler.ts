/**
 * The per-request path: ask the connection's current verdict (re-checked after trust changes),
 * refuse or explain, apply limits, then forward with our identity headers. A request reaches
 * `Upstream.dispatch` only with identity headers from a verified connection; every other outcome
 * is answered here, logged (`event: "request"`) and counted.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { hopByHopNames, isHopByHop } from '../identity/index.js';
import type { Logger, Metrics } from '../observability/index.js';
import type { Authorizer, ConnectionDecision } from '../policy/index.js';
import { gatewayError, responseInProgress, sendAnswer } from './client-errors.js';
import type { GatewayErrorCode } from './errors.js';
import { type ExchangeHooks, ProxyExchange, type Upstream, type UpstreamFailure } from './forward.js';
import { limitedBody, type RequestLimits, requestRefusal } from './request-limits.js';
import { traceContextOf } from './trace-context.js';
import { requestIdFrom, type UpstreamHeaderOptions, upstreamHeaders } from './upstream-headers.js';

/** What the handler needs of the gateway's lifecycle: the drain count, and whether one began. */
export interface RequestLifecycle {
  /** Counts the request in flight until its response or its connection closes (the drain waits for it). */
  track(req: IncomingMessage, res: ServerResponse): void;
  /** A drain began: every answer from now on carries Connection: close. */
  isDraining(): boolean;
}

export interface RequestHandlerOptions {
  /** The decision for each request: refusal, the gateway's own answer, or where to forward. */
  readonly authorizer: Authorizer;
  /** The pool for the decision's upstream origin (the default one for none). */
  readonly upstreams: { for(origin: string | undefined): Upstream };
  readonly limits: RequestLimits;
  /** GATEWAY_UNDERSCORE_HEADERS, and whether the `forwarded` identity format is on. */
  readonly headerOptions?: UpstreamHeaderOptions;
  readonly lifecycle: RequestLifecycle;
  readonly metrics: Metrics;
  readonly logger: Logger;
}

const ROUTE = 'default';

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
        if (opts.lifecycle.isDraining() || (state.decision.ok && state.decision.closeAfter))
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
    opts.lifecycle.track(req, res);
    // A drain began while an earlier response on this connection was still waiting for its
    // upstream: that answer will carry Connection: close (responseHeaders), so this request is
    // pipelined behind a closing answer and must not be forwarded either.
    if (opts.lifecycle.isDraining() && !this.closing.has(req.socket)) {
      const current = responseInProgress(req.socket);
      if (current && current !== res && !current.headersSent) this.closing.add(req.socket);
    }
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
    // A traceparent the client's Connection names is hop-by-hop (never forwarded as it is): not
    // the client's trace, so a new one is logged and sent instead.
    const sent = req.headers.traceparent;
    const named = sent !== undefined && isHopByHop('traceparent', hopByHopNames(req.headers.connection));
    const trace = traceContextOf(named ? undefined : sent);
    const decision = opts.authorizer.decide(req);
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
    if (!res.shouldKeepAlive || opts.lifecycle.isDraining() || (decision.ok && decision.closeAfter))
      this.markClosing(state);
    // `Expect: 100-continue` (the listener skips Node's automatic 100): answered without a 100, the
    // client may or may not send its body, so the connection cannot be trusted to stay in step
    // (RFC 9110 §10.1.1): every answer but a forwarded one closes it.
    const awaitsContinue = req.httpVersion === '1.1' && req.headers.expect?.toLowerCase() === '100-continue';
    if (!decision.ok) {
      state.reason = decision.error;
      if (awaitsContinue) this.markClosing(state);
      // Strict: the one readable answer (as nginx's 400), with Connection: close, then the
      // connection closes; requests pipelined behind it are never answered (the closing set above).
      if (decision.close) this.markClosing(state);
      state.bytesOut = sendAnswer(req, res, decision, requestId);
      this.finish(state, decision.status);
      return;
    }
    // Limits, HTTP version, Host and origin-form (request-limits.ts): refused before anything is forwarded.
    const refusal = requestRefusal(req, opts.limits);
    if (refusal) {
      if (awaitsContinue) this.markClosing(state);
      return this.answer(state, refusal);
    }
    const body = limitedBody(req, opts.limits);
    if (decision.local) {
      if (awaitsContinue) this.markClosing(state);
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
    const headers = upstreamHeaders(
      req.rawHeaders,
      req.headers.connection,
      decision.identityHeaders,
      decision.clientAddress,
      requestId,
      trace.replacement === undefined
        ? this.headerOptions
        : { underscores: 'drop', forwarded: false, ...opts.headerOptions, traceparent: trace.replacement },
    );
    // Authorized and within its limits: now the client may send its body.
    if (awaitsContinue) res.writeContinue();
    const exchange = new ProxyExchange(req, res, state, this.hooks);
    opts.upstreams.for(decision.upstream).dispatch(exchange, headers, decision.target ?? req.url ?? '', body);
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
    state.reason = detail ?? code;
    // After a refusal whose body we did not read, or a malformed request, the connection closes;
    // so does any answer once a drain has begun.
    if (
      this.opts.lifecycle.isDraining() ||
      code === 'bad_request' ||
      code === 'payload_too_large' ||
      code === 'uri_too_long'
    )
      this.markClosing(state);
    const e = gatewayError(code);
    state.bytesOut = sendAnswer(state.req, state.res, e, state.requestId);
    this.finish(state, e.status);
  }
}
