/**
 * Every HTTP error the gateway itself answers with, in one table: code, status and the sentence a
 * partner engineer reads. Bodies are JSON `{"error", "message", "request_id", …}` (design.md).
 */
import type { ServerResponse } from 'node:http';

export const GATEWAY_ERRORS = {
  not_authorized: { status: 403, message: 'This client certificate may not call this route.' },
  bad_request: { status: 400, message: 'The request is malformed and was not forwarded.' },
  too_many_headers: { status: 431, message: 'The request has too many header fields.' },
  headers_too_large: { status: 431, message: 'The request header section is too large.' },
  uri_too_long: { status: 414, message: 'The request target is too long.' },
  payload_too_large: { status: 413, message: 'The request body is larger than this gateway accepts.' },
  request_timeout: { status: 408, message: 'The request did not arrive in time.' },
  upstream_unavailable: { status: 502, message: 'The service behind the gateway could not be reached.' },
  upstream_reset: {
    status: 502,
    message: 'The service behind the gateway closed the connection unexpectedly.',
  },
  upstream_timeout: { status: 504, message: 'The service behind the gateway did not answer in time.' },
  shutting_down: { status: 503, message: 'The gateway is shutting down; retry on a new connection.' },
  internal_error: { status: 500, message: 'The gateway failed to handle the request.' },
} as const satisfies Record<string, { status: number; message: string }>;

export type GatewayErrorCode = keyof typeof GATEWAY_ERRORS;

export interface ErrorBody {
  readonly error: string;
  readonly message: string;
  readonly request_id: string;
  readonly [extra: string]: string;
}

/** Writes a JSON error response unless headers already went out (then the stream is cut). */
export function sendJsonError(
  res: ServerResponse,
  status: number,
  body: ErrorBody,
  extraHeaders: Readonly<Record<string, string>> = {},
): number {
  if (res.headersSent) {
    res.destroy();
    return 0;
  }
  const payload = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(payload),
    'cache-control': 'no-store',
    'x-request-id': body.request_id,
    ...extraHeaders,
  });
  res.end(payload);
  return Buffer.byteLength(payload);
}
