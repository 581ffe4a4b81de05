/**
 * Every HTTP error the gateway itself answers with, in one table: code, status and the sentence a
 * partner engineer reads. Bodies are JSON `{"error", "message", "request_id", …}` (design.md).
 */
import { type ServerResponse, STATUS_CODES } from 'node:http';

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

/**
 * RFC 9457 `type` of every error the gateway answers: this prefix and the `error` code. It names
 * the error (clients may compare it); it is an identifier, not a page to fetch.
 */
export const PROBLEM_TYPE_PREFIX = 'https://mtls-gateway/errors/';

/** How a problem+json body is written; `title` defaults to the status's reason phrase. */
export interface ProblemFormat {
  readonly title?: string;
}

/**
 * Whether an Accept header prefers `application/problem+json` over `application/json`: a strictly
 * higher q for it (each type takes the q of its most specific matching range). No Accept, a wildcard
 * only, or a tie keeps today's `application/json`.
 */
export function prefersProblemJson(accept: string | undefined): boolean {
  if (!accept) return false;
  const q = { problem: { q: 0, rank: 0 }, json: { q: 0, rank: 0 } };
  for (const part of accept.split(',')) {
    const [range = '', ...params] = part.split(';').map((p) => p.trim().toLowerCase());
    let weight = 1;
    for (const p of params) {
      const m = /^q=([01](?:\.\d{0,3})?)$/.exec(p);
      if (m) weight = Number(m[1]);
    }
    const matches = (type: string): number =>
      range === type ? 3 : range === 'application/*' ? 2 : range === '*/*' ? 1 : 0;
    for (const [key, type] of [
      ['problem', 'application/problem+json'],
      ['json', 'application/json'],
    ] as const) {
      const rank = matches(type);
      if (rank > q[key].rank) q[key] = { q: weight, rank };
    }
  }
  return q.problem.q > 0 && q.problem.q > q.json.q;
}

/**
 * The one rendering of an error body: JSON, or with `problem` RFC 9457 `application/problem+json`
 * (`type`, `title`, `status`, `detail` = the message first, then every field of the JSON body).
 */
export function errorPayload(
  status: number,
  body: ErrorBody,
  problem?: ProblemFormat,
): { contentType: string; payload: string } {
  if (!problem) return { contentType: 'application/json', payload: JSON.stringify(body) };
  const title = problem.title ?? STATUS_CODES[status] ?? 'Error';
  const full = { type: `${PROBLEM_TYPE_PREFIX}${body.error}`, title, status, detail: body.message, ...body };
  return { contentType: 'application/problem+json', payload: JSON.stringify(full) };
}

/**
 * Writes a JSON error response unless headers already went out (then the stream is cut). With
 * `problem`, the body is RFC 9457 `application/problem+json`: `type`, `title`, `status`, `detail`
 * (the message) first, then every field of the JSON body unchanged.
 */
export function sendJsonError(
  res: ServerResponse,
  status: number,
  body: ErrorBody,
  extraHeaders: Readonly<Record<string, string>> = {},
  problem?: ProblemFormat,
): number {
  if (res.headersSent) {
    res.destroy();
    return 0;
  }
  const { contentType, payload } = errorPayload(status, body, problem);
  res.writeHead(status, {
    'content-type': contentType,
    'content-length': Buffer.byteLength(payload),
    'cache-control': 'no-store',
    'x-request-id': body.request_id,
    ...extraHeaders,
  });
  res.end(payload);
  return Buffer.byteLength(payload);
}
