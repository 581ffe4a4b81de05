/**
 * The per-request path: ask the connection's current verdict (re-checked after trust changes),
 * refuse or explain, apply limits, then forward with our identity headers. A request reaches
 * `Upstream.forward` only with identity headers from a verified connection; every other outcome
 * is answered here, logged (`event: "request"`) and counted.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Logger, Metrics } from '../observability/index.js';
import type { Authorizer } from '../policy/index.js';
import { gatewayError, sendAnswer } from './client-errors.js';
import type { GatewayErrorCode } from './errors.js';
import { type Upstream, UpstreamFailure } from './forward.js';
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

export function createRequestHandler(
  opts: RequestHandlerOptions,
): (req: IncomingMessage, res: ServerResponse) => void {
  const { metrics, logger } = opts;
  // Metric children resolved once per label set (routes × codes × partners: bounded), not per request.
  const counted = new Map<string, () => void>();
  const timed = new Map<string, (seconds: number) => void>();
  const count = (route: string, code: string, partner: string | undefined): void => {
    const key = `${route}\0${code}\0${partner ?? ''}`;
    let inc = counted.get(key);
    if (!inc) {
      const all = metrics.requests.labels({ route, code });
      const byPartner =
        partner === undefined ? undefined : metrics.partnerRequests.labels({ partner, route, code });
      inc = () => {
        all.inc();
        byPartner?.inc();
      };
      counted.set(key, inc);
    }
    inc();
  };
  const time = (route: string, seconds: number): void => {
    let observe = timed.get(route);
    if (!observe) {
      const child = metrics.requestDuration.labels({ route });
      observe = (s) => child.observe(s);
      timed.set(route, observe);
    }
    observe(seconds);
  };
  // Connections whose current answer closes them. Node still parses and emits requests pipelined
  // behind such an answer (their responses are never written): they must not reach the upstream.
  const closing = new WeakSet<Socket>();
  /** Connections whose one request pipelined behind their closing answer was already logged. */
  const pipelinedLogged = new WeakSet<Socket>();
  return (req, res) => {
    opts.lifecycle.track(req, res);
    // A drain began while an earlier response on this connection was still waiting for its
    // upstream: that answer will carry Connection: close (responseHeaders), so this request is
    // pipelined behind a closing answer and must not be forwarded either.
    if (opts.lifecycle.isDraining() && !closing.has(req.socket)) {
      const current = (req.socket as Socket & { _httpMessage?: ServerResponse | null })._httpMessage;
      if (current && current !== res && !current.headersSent) closing.add(req.socket);
    }
    // Pipelined behind an answer that closes the connection (RFC 9112 §9.6): never processed, not
    // even decided. Only the first is logged and counted: a client (refused, with no certificate)
    // must not turn one connection into thousands of log lines before it closes.
    if (closing.has(req.socket)) {
      if (pipelinedLogged.has(req.socket)) return;
      pipelinedLogged.add(req.socket);
      count(ROUTE, '0', undefined);
      logger.info({
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
    const decision = opts.authorizer.decide(req);
    const partnerId = decision.partnerId;
    const route = decision.route ?? ROUTE;
    let upstreamMs: number | undefined;
    let bytesOut = 0;
    let reason: string | undefined;
    /** What the upstream said when it cut a response (logged with a truncation's reason). */
    let upstreamError: string | undefined;

    const finish = (status: number): void => {
      count(route, String(status), decision.partnerLabel);
      time(route, (performance.now() - started) / 1000);
      // A truncated response is an upstream failure the client saw as a cut: a warning.
      (upstreamError === undefined ? logger.info : logger.warn).call(logger, {
        event: 'request',
        request_id: requestId,
        trace_id: trace.traceId,
        partner_id: partnerId,
        client: decision.ok ? decision.clientAddress : req.socket.remoteAddress,
        method: req.method,
        path: req.url,
        forwarded_path: decision.ok && decision.target !== req.url ? decision.target : undefined,
        route,
        status,
        reason,
        upstream_error: upstreamError,
        upstream_ms: upstreamMs === undefined ? undefined : Math.round(upstreamMs * 1000) / 1000,
        bytes_in: Number(req.headers['content-length'] ?? 0) || undefined,
        bytes_out: bytesOut,
        duration_ms: Math.round((performance.now() - started) * 1000) / 1000,
      });
    };
    /**
     * Marks the connection as ending with this answer, and says so on the answer itself: every
     * answer (forwarded, refusal, local, the gateway's own errors) then carries Connection: close,
     * so no client sends a next request that would be parked unanswered and counted in flight.
     */
    const markClosing = (): void => {
      closing.add(req.socket);
      if (!res.headersSent) res.setHeader('connection', 'close');
    };
    const answer = (code: GatewayErrorCode, detail?: string): void => {
      reason = detail ?? code;
      // After a refusal whose body we did not read, or a malformed request, the connection closes;
      // so does any answer once a drain has begun.
      if (
        opts.lifecycle.isDraining() ||
        code === 'bad_request' ||
        code === 'payload_too_large' ||
        code === 'uri_too_long'
      )
        markClosing();
      const e = gatewayError(code);
      bytesOut = sendAnswer(req, res, e, requestId);
      finish(e.status);
    };

    // The client's Connection: close (or HTTP/1.0), drain and maximum age end the connection here too.
    if (!res.shouldKeepAlive || opts.lifecycle.isDraining() || (decision.ok && decision.closeAfter))
      markClosing();
    if (!decision.ok) {
      reason = decision.error;
      // Strict: the one readable answer (as nginx's 400), with Connection: close, then the
      // connection closes; requests pipelined behind it are never answered (the closing set above).
      if (decision.close) markClosing();
      bytesOut = sendAnswer(req, res, decision, requestId);
      finish(decision.status);
      return;
    }
    // Limits, HTTP version, Host and origin-form (request-limits.ts): refused before anything is forwarded.
    const refusal = requestRefusal(req, opts.limits);
    if (refusal) return answer(refusal);
    const body = limitedBody(req, opts.limits);
    if (decision.local) {
      const payload = JSON.stringify(decision.local(requestId), null, 2);
      res.writeHead(200, {
        'content-type': 'application/json',
        'content-length': Buffer.byteLength(payload),
        'cache-control': 'no-store',
        'x-request-id': requestId,
      });
      res.end(payload);
      finish(200);
      return;
    }

    const headers = upstreamHeaders(
      req.rawHeaders,
      req.headers.connection,
      decision.identityHeaders,
      decision.clientAddress,
      requestId,
      trace.replacement === undefined
        ? opts.headerOptions
        : { underscores: 'drop', forwarded: false, ...opts.headerOptions, traceparent: trace.replacement },
    );
    const responseHeaders = (): Record<string, string> =>
      opts.lifecycle.isDraining() || decision.closeAfter
        ? { 'x-request-id': requestId, connection: 'close' }
        : { 'x-request-id': requestId };
    const target = decision.target ?? req.url ?? '';
    opts.upstreams
      .for(decision.upstream)
      .forward(req, res, headers, target, responseHeaders, body)
      .then(
        (result) => {
          upstreamMs = result.upstreamMs;
          bytesOut = result.bytesOut;
          if (result.truncated) {
            // The status stays the one the client saw; the reason says it was cut.
            reason = result.truncated.reason;
            upstreamError = result.truncated.causeCode;
            if (result.truncated.kind) metrics.upstreamErrors.inc({ route, kind: result.truncated.kind });
          }
          finish(result.status);
        },
        (err: unknown) => {
          const failure =
            err instanceof UpstreamFailure
              ? err
              : new UpstreamFailure('other', 'internal_error', String(err));
          if (failure.causeCode === 'client_aborted') {
            reason = 'client_aborted';
            finish(499);
            return;
          }
          if (failure.code === 'payload_too_large') {
            answer('payload_too_large');
            return;
          }
          metrics.upstreamErrors.inc({ route, kind: failure.kind });
          answer(failure.code, `${failure.code}: ${failure.causeCode}`);
        },
      );
  };
}
