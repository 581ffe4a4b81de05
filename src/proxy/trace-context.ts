/**
 * W3C Trace Context (https://www.w3.org/TR/trace-context/) for the request log and the upstream:
 * a client's valid `traceparent` is kept (and forwarded as sent, with its `tracestate`); a missing
 * or malformed one is replaced by a new trace, so every request line carries a `trace_id` that the
 * upstream's own logs share. Pure apart from the random ids.
 */
import { randomFillSync } from 'node:crypto';

const TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?$/;
const ZERO_TRACE = '0'.repeat(32);
const ZERO_PARENT = '0'.repeat(16);

export interface TraceContext {
  readonly traceId: string;
  /** The `traceparent` to send upstream instead of the client's; undefined: the client's is kept. */
  readonly replacement: string | undefined;
}

/**
 * The trace of a request, from its (single) `traceparent` header value. Node joins repeated
 * `traceparent` lines with `, `: a value with a comma is two headers, so no valid trace (the
 * upstream would get both copies and might follow the other one).
 */
export function traceContextOf(value: string | string[] | undefined): TraceContext {
  if (typeof value === 'string' && !value.includes(',')) {
    const m = TRACEPARENT.exec(value);
    // Version ff is invalid; version 00 has no trailing fields; all-zero ids are invalid.
    if (
      m &&
      m[1] !== 'ff' &&
      !(m[1] === '00' && m[5] !== undefined) &&
      m[2] !== ZERO_TRACE &&
      m[3] !== ZERO_PARENT
    )
      return { traceId: m[2]!, replacement: undefined };
  }
  const ids = freshIds();
  const traceId = ids.slice(0, 32);
  return { traceId, replacement: `00-${traceId}-${ids.slice(32)}-00` };
}

/** 24 random bytes per new trace (16 trace id, 8 parent id), drawn from a pool refilled 256 at a time. */
const ID_BYTES = 24;
const pool = Buffer.alloc(ID_BYTES * 256);
let offset = pool.length;

/** 48 hex digits that no other trace got: one randomFillSync per 256 traces instead of one per trace. */
function freshIds(): string {
  if (offset === pool.length) {
    randomFillSync(pool);
    offset = 0;
  }
  const ids = pool.toString('hex', offset, offset + ID_BYTES);
  offset += ID_BYTES;
  return ids;
}
