/**
 * The one responder for answers the gateway writes itself, never forwarded: its own errors
 * (GATEWAY_ERRORS), refusals of the connection, and requests Node's HTTP parser refused before the
 * handler saw them (clientError: malformed, oversized, too slow). Every body is rendered by
 * errors.ts; on a refused connection the refusal is what the client reads, whatever went wrong.
 */
import { type IncomingMessage, type ServerResponse, STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import type { Logger, Metrics } from '../observability/index.js';
import { stateOf } from '../tls/connection-state.js';
import { refusalAnswer } from '../tls/refusal.js';
import {
  type ErrorBody,
  errorPayload,
  GATEWAY_ERRORS,
  type GatewayErrorCode,
  prefersProblemJson,
  sendJsonError,
} from './errors.js';
import { parserRefusal } from './request-limits.js';

/** An answer the gateway writes itself: one of GATEWAY_ERRORS or a refusal. */
export interface GatewayAnswer {
  readonly status: number;
  readonly error: string;
  /** The problem+json `title` (one per error code); default: the status's reason phrase. */
  readonly title?: string;
  readonly message: string;
  readonly details: Readonly<Record<string, string>>;
}

/**
 * The response Node's HTTP server is writing on `socket` now (the first of any pipelined ones), if
 * any. Node keeps it in the socket's `_httpMessage`; read only here.
 */
export function responseInProgress(socket: Socket): ServerResponse | undefined {
  return (socket as Socket & { _httpMessage?: ServerResponse | null })._httpMessage ?? undefined;
}

export function gatewayError(code: GatewayErrorCode): GatewayAnswer {
  const { status, message } = GATEWAY_ERRORS[code];
  return { status, error: code, message, details: {} };
}

/** Answers a parsed request (problem+json when its Accept prefers it); returns the body's bytes. */
export function sendAnswer(
  req: IncomingMessage,
  res: ServerResponse,
  answer: GatewayAnswer,
  requestId: string,
): number {
  const body: ErrorBody = {
    error: answer.error,
    message: answer.message,
    request_id: requestId,
    ...answer.details,
  };
  const problem = prefersProblemJson(req.headers.accept)
    ? answer.title === undefined
      ? {}
      : { title: answer.title }
    : undefined;
  return sendJsonError(res, answer.status, body, {}, problem);
}

/**
 * The server's `clientError` listener: malformed, oversized or too slow requests never reach the
 * request handler, so they are answered here, once, logged (`event: "request"`) and counted.
 */
export function clientErrorResponder(deps: {
  readonly logger: Logger;
  readonly metrics: Metrics;
}): (err: NodeJS.ErrnoException, socket: Socket) => void {
  const { logger, metrics } = deps;
  return (err, socket) => {
    if (err.code === 'ECONNRESET' || !socket.writable) {
      socket.destroy();
      return;
    }
    if (err.code === 'ERR_TLS_RENEGOTIATION_DISABLED') {
      // A TLS 1.2 client asked to renegotiate (refused, see tls/secure-context.ts): it loses the connection.
      logger.warn({
        event: 'connection',
        result: 'refused',
        reason: 'renegotiation',
        client: socket.remoteAddress,
      });
      socket.destroy();
      return;
    }
    // A response still being written (pipelining): a raw answer now would pre-empt or corrupt it.
    // It becomes the connection's last; bytes after a Connection: close are never answered at all.
    const current = responseInProgress(socket);
    if (current || err.code === 'HPE_CLOSED_CONNECTION') {
      logger.warn({ event: 'request', status: 0, reason: err.code, client: socket.remoteAddress });
      if (!current) socket.end();
      else if (current.headersSent) current.once('finish', () => socket.end());
      else if (current.req.complete) current.shouldKeepAlive = false;
      else {
        // The body of the request in flight is malformed: refused, and its upstream request is cut
        // (never completed) when the connection closes after this answer.
        const { status, message } = GATEWAY_ERRORS.bad_request;
        const body = { error: 'bad_request', message, request_id: 'none' };
        sendJsonError(current, status, body, { connection: 'close' });
      }
      return;
    }
    const code = parserRefusal(err.code);
    // On a refused connection the refusal is what the client must read, not the parse error.
    const refused = stateOf(socket)?.initialVerdict;
    const answer = refused && !refused.ok ? refusalAnswer(refused) : gatewayError(code);
    const { status } = answer;
    metrics.requests.inc({ route: 'default', code: String(status) });
    logger.warn({ event: 'request', status, reason: err.code ?? code, client: socket.remoteAddress });
    // No request was parsed: no Accept to honour, no request id; the raw answer closes the connection.
    const body = { error: answer.error, message: answer.message, request_id: 'none', ...answer.details };
    const { contentType, payload } = errorPayload(status, body);
    socket.end(
      `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\ncontent-type: ${contentType}\r\n` +
        `content-length: ${Buffer.byteLength(payload)}\r\nconnection: close\r\n\r\n${payload}`,
    );
  };
}
