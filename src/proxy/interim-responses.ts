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
    const parts: Buffer[] = held ? [held] : [];
    held = undefined;
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
      const end = pending.indexOf('\r\n\r\n', 0, 'latin1');
      if (end < 0) {
        if (pending.length > MAX_INTERIM_BYTES) {
          atResponseStart = false;
          break;
        }
        held = pending;
        pending = Buffer.alloc(0);
        break;
      }
      const block = pending.subarray(0, end + 4);
      if (!CONTINUE.test(head)) out.push(block); // 103, 102: undici parses and skips them
      pending = pending.subarray(end + 4);
    }
    if (pending.length > 0) out.push(pending);
    return out.length === 0 ? null : out.length === 1 ? out[0]! : Buffer.concat(out);
  };
}
