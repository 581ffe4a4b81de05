/**
 * Unsolicited `100 Continue` from an upstream, made harmless. RFC 9110 §15.2: a client must parse
 * one or more 1xx responses before the final one, even when it did not expect any (some Java and
 * IIS stacks send a 100 to every request with a body). undici destroys the connection on any 100
 * ("bad response"), so the gateway answered 502 to a request the upstream was serving fine.
 *
 * The filter sits between the upstream socket and undici's parser and removes only whole
 * `HTTP/1.x 100 …` header blocks at the start of a response: right after undici wrote a request
 * head (with pipelining 1 nothing of an earlier response is left unread then), and after other
 * interim responses (103 Early Hints, 102), which pass through to undici (it skips them). A 1xx has
 * no content (RFC 9110 §15.2), so its block ends at the empty line. The first byte of anything else
 * ends the filtering until the next request head; no other byte is ever altered or removed.
 *
 * A block is removed only when it parses strictly: a status line `HTTP/1.x 1dd reason`, header
 * lines `name: value`, every line ended by CRLF. A lone LF, a lone CR or any other odd byte ends
 * the filtering and leaves the bytes to undici, which refuses a 100 (502). Never search ahead for
 * CRLF CRLF: a block ended by bare LFs would then reach into the final response and remove its
 * head, handing the body (upstream-controlled text) to undici as the response: response splitting.
 */
import type { Socket } from 'node:net';

/** A request head as undici writes it: one latin1 string `METHOD target HTTP/1.1\r\n…`. */
const REQUEST_HEAD = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+ \S+ HTTP\/1\.1\r\n/;
/** An interim status line: `HTTP/1.x 1dd ` except 101 (an upgrade, which undici refuses itself). */
const INTERIM = /^HTTP\/1\.[01] 1(?!01)\d\d[ \r]/;
const CONTINUE = /^HTTP\/1\.[01] 100[ \r]/;
/** Enough bytes to tell an interim status line from anything else. */
const STATUS_PREFIX = 'HTTP/1.1 1xx '.length;

/** True when `head` (shorter than STATUS_PREFIX) may still grow into an interim status line. */
function mayBecomeInterim(head: string): boolean {
  return ['HTTP/1.1 1', 'HTTP/1.0 1'].some((v) =>
    head.length <= v.length
      ? v.startsWith(head)
      : head.startsWith(v) && /^\d{0,2}$/.test(head.slice(v.length)),
  );
}
/** An interim header block larger than this is passed on as it is (undici's limits apply). */
const MAX_INTERIM_BYTES = 16 * 1024;

/** A whole status line: `HTTP/1.x 1dd` then an optional reason of SP, HTAB, VCHAR, obs-text. */
const STRICT_STATUS_LINE = /^HTTP\/1\.[01] 1\d\d(?: [\t\x20-\x7e\x80-\xff]*)?$/;
/** A whole header line: a token name, a colon, a value without CR, LF or NUL. */
const STRICT_HEADER_LINE = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+:[\t\x20-\x7e\x80-\xff]*$/;
const INCOMPLETE = -1;
const MALFORMED = -2;

/**
 * The byte length of the interim block at the start of `buf` (status line, header lines, empty
 * line, each ended by CRLF), INCOMPLETE when more bytes are needed, or MALFORMED at the first line
 * that is not strictly well formed (a lone LF or CR included). Never looks past the block's end.
 */
function strictInterimBlockEnd(buf: Buffer): number {
  let start = 0;
  for (let line = 0; ; line++) {
    const lf = buf.indexOf(0x0a, start);
    if (lf < 0) {
      const tail = buf.toString('latin1', start);
      // A partial line is only worth waiting for if it is not already wrong.
      return /^[^\r\n]*\r?$/.test(tail) ? INCOMPLETE : MALFORMED;
    }
    if (lf === start || buf[lf - 1] !== 0x0d) return MALFORMED; // a lone LF
    const text = buf.toString('latin1', start, lf - 1);
    start = lf + 1;
    if (line === 0) {
      if (!STRICT_STATUS_LINE.test(text)) return MALFORMED;
    } else if (text === '') {
      return start;
    } else if (!STRICT_HEADER_LINE.test(text)) {
      return MALFORMED;
    }
  }
}

type Read = (size?: number) => Buffer | null;

export function skipInterimContinue(socket: Socket): void {
  let atResponseStart = false;
  let held: Buffer | undefined;
  const write = socket.write.bind(socket) as (...args: unknown[]) => boolean;
  const read = socket.read.bind(socket) as Read;

  socket.write = ((...args: unknown[]): boolean => {
    if (typeof args[0] === 'string' && REQUEST_HEAD.test(args[0])) atResponseStart = true;
    return write(...args);
  }) as Socket['write'];

  (socket as { read: Read }).read = (size?: number): Buffer | null => {
    // read(0) and sized reads are the stream's own bookkeeping: never filtered, never consume held bytes.
    if (size !== undefined || (!atResponseStart && !held)) return read(size);
    const parts: Buffer[] = [];
    if (held) {
      parts.push(held);
      held = undefined;
    } else {
      // The usual case: a final response whose status line is already whole in the first chunk.
      // Its 10th byte (`HTTP/1.1 2…`) is not `1`, so it is not interim: passed on as it is, and
      // the rest of the response is read as it comes, untouched.
      const first = read();
      if (first === null) return null;
      if (first.length >= STATUS_PREFIX && first[9] !== 0x31) {
        atResponseStart = false;
        return first;
      }
      parts.push(first);
    }
    for (let chunk = read(); chunk !== null; chunk = read()) parts.push(chunk);
    // One chunk (the usual case) is used as it is: no copy on the path of every response.
    let pending = parts.length === 1 ? parts[0]! : Buffer.concat(parts);
    const out: Buffer[] = [];
    while (atResponseStart && pending.length > 0) {
      const head = pending.toString('latin1', 0, Math.min(pending.length, STATUS_PREFIX));
      if (pending.length < STATUS_PREFIX && mayBecomeInterim(head)) {
        held = pending; // could still become an interim status line: wait for more bytes
        pending = Buffer.alloc(0);
        break;
      }
      if (!INTERIM.test(head)) {
        atResponseStart = false; // the final response: from here on, bytes pass untouched
        break;
      }
      const end = strictInterimBlockEnd(pending);
      if (end === MALFORMED || (end === INCOMPLETE && pending.length > MAX_INTERIM_BYTES)) {
        atResponseStart = false; // not ours to repair: undici parses (and refuses) it as it is
        break;
      }
      if (end === INCOMPLETE) {
        held = pending;
        pending = Buffer.alloc(0);
        break;
      }
      const block = pending.subarray(0, end);
      if (!CONTINUE.test(head)) out.push(block); // 103, 102: undici parses and skips them
      pending = pending.subarray(end);
    }
    if (pending.length > 0) out.push(pending);
    return out.length === 0 ? null : out.length === 1 ? out[0]! : Buffer.concat(out);
  };
}
