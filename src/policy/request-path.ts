/**
 * The request path the gateway routes on and forwards: one normal form, so the route that
 * authorised a request and the path the upstream acts on are the same path. Pure: no I/O.
 *
 * The rule, in order (README "Request paths" says the same):
 * 1. The target is split at the first `?`; the query is forwarded as sent and never routed on.
 * 2. Percent-escapes are read once: an escape of an unreserved character (`A-Z a-z 0-9 - . _ ~`)
 *    is decoded (`%61` → `a`, `%2e` → `.`); every other escape is kept with upper-case hex. So
 *    `%2561` stays `%2561` (never decoded twice).
 * 3. Refused (400): an escape of `/`, `\`, `%` followed by two hex digits (a double encoding an
 *    upstream that decodes twice would read differently), a control byte (`%00`-`%1F`, `%7F`), a
 *    malformed escape, percent-encoded bytes >= 0x80 that are not valid UTF-8 (overlong forms such
 *    as `%c0%ae`, surrogates), a raw `\`, `#`, control, space or non-ASCII byte, and, while a
 *    GATEWAY_CONFIG policy is on, any `;` (path parameters, which Tomcat and Spring strip).
 *    Also refused: percent-encoded UTF-8 holding a character that folds to ASCII under
 *    toUpperCase, toLowerCase or NFKC (dotless `ı` → `I`, long `ſ` → `S`, Kelvin `K` → `k`,
 *    ligatures `ﬁ` → `fi`, fullwidth `ａ` → `a`): Java's equalsIgnoreCase and NFKC-normalizing
 *    upstreams read `/adm%C4%B1n` as `/admin`, and routing is only ASCII case-insensitive.
 * 4. Runs of `/` are merged into one, then dot segments are removed (RFC 3986 5.2.4), so
 *    `//admin`, `/x/../admin` and `/%2e%2e/admin` all become `/admin`.
 * Routes then match the result ignoring ASCII case (route-table.ts); the path is forwarded in the
 * client's case.
 * This is Envoy's `normalize_path` + `merge_slashes`, with refusals where Envoy would pass the
 * ambiguity on (`path_with_escaped_slashes_action: REJECT_REQUEST`).
 */

export type RequestPath =
  | { readonly ok: true; readonly path: string; readonly query: string }
  | { readonly ok: false; readonly problem: string };

const HEX = '0123456789ABCDEF';
/** pchar minus `%` and `;`, and `/`: a path of these needs no decoding and has no parameter. */
const PLAIN_PATH = /^[A-Za-z0-9\-._~!$&'()*+,=:@/]*$/;
const DOT_SEGMENT = /\/\.\.?(?:\/|$)/;

function hexValue(code: number): number {
  if (code >= 0x30 && code <= 0x39) return code - 0x30;
  const lower = code | 0x20;
  if (lower >= 0x61 && lower <= 0x66) return lower - 0x61 + 10;
  return -1;
}

function isUnreserved(b: number): boolean {
  return (
    (b >= 0x41 && b <= 0x5a) ||
    (b >= 0x61 && b <= 0x7a) ||
    (b >= 0x30 && b <= 0x39) ||
    b === 0x2d ||
    b === 0x2e ||
    b === 0x5f ||
    b === 0x7e
  );
}

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

/** The text of `bytes` if they are valid UTF-8 (no overlong forms, no surrogates), else undefined. */
function decodeUtf8(bytes: readonly number[]): string | undefined {
  try {
    return strictUtf8.decode(Uint8Array.from(bytes));
  } catch {
    return undefined;
  }
}

const hasAscii = (text: string): boolean => {
  for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) < 0x80) return true;
  return false;
};

/**
 * True when some character of `text` (all non-ASCII) becomes ASCII under a case mapping or
 * compatibility normalization an upstream may apply: toUpperCase, toLowerCase, both in turn (as
 * Java's equalsIgnoreCase compares), or NFKC. `ı` → `I`, `ſ` → `S`, `K` → `k`, `ﬀ` → `FF`,
 * `ａ` → `a`, `①` → `1`, and `ß` → `SS` (refused too: fail closed). Not NFKD, which would refuse
 * every accented letter (`é` → `e` + accent) that no upstream reads as plain ASCII.
 */
function foldsToAscii(text: string): boolean {
  for (const ch of text) {
    if (
      hasAscii(ch.toUpperCase()) ||
      hasAscii(ch.toLowerCase()) ||
      hasAscii(ch.toUpperCase().toLowerCase()) ||
      hasAscii(ch.normalize('NFKC'))
    )
      return true;
  }
  return false;
}

/** RFC 3986 5.2.4 on a path that starts with `/` and has no empty segment but a last one. */
function removeDotSegments(path: string): string {
  const segments = path.slice(1).split('/');
  const out: string[] = [];
  for (let i = 0; i < segments.length; i++) {
    const segment = segments[i]!;
    const last = i === segments.length - 1;
    if (segment === '.' || segment === '..') {
      if (segment === '..') out.pop();
      if (last) out.push('');
      continue;
    }
    out.push(segment);
  }
  return `/${out.join('/')}`;
}

/**
 * The normal form of an origin-form request target (`/…`), or the reason it is refused.
 * `refuseParameters`: refuse any `;` in the path (on while a policy routes requests).
 */
export function normalizeRequestPath(target: string, refuseParameters: boolean): RequestPath {
  const q = target.indexOf('?');
  const raw = q === -1 ? target : target.slice(0, q);
  const query = q === -1 ? '' : target.slice(q);
  if (!raw.startsWith('/')) return { ok: false, problem: 'the path does not start with /' };
  // Nearly every path is already normal: no escape, `;`, `//` or dot segment. Checked once, kept as is.
  if (PLAIN_PATH.test(raw) && !raw.includes('//') && !DOT_SEGMENT.test(raw))
    return { ok: true, path: raw, query };
  let decoded = '';
  let utf8: number[] = [];
  let folds = false;
  const flushUtf8 = (): boolean => {
    if (utf8.length === 0) return true;
    const text = decodeUtf8(utf8);
    utf8 = [];
    if (text !== undefined && foldsToAscii(text)) folds = true;
    return text !== undefined;
  };
  for (let i = 0; i < raw.length; i++) {
    const c = raw.charCodeAt(i);
    if (c === 0x25) {
      const hi = hexValue(raw.charCodeAt(i + 1));
      const lo = hexValue(raw.charCodeAt(i + 2));
      if (hi < 0 || lo < 0) return { ok: false, problem: 'a % is not followed by two hex digits' };
      const b = hi * 16 + lo;
      i += 2;
      if (b >= 0x80) {
        utf8.push(b);
        decoded += `%${HEX[hi]}${HEX[lo]}`;
        continue;
      }
      if (!flushUtf8()) return { ok: false, problem: 'percent-encoded bytes that are not valid UTF-8' };
      if (b === 0x2f || b === 0x5c) return { ok: false, problem: 'an encoded / or \\' };
      if (b < 0x20 || b === 0x7f) return { ok: false, problem: 'an encoded control character' };
      if (b === 0x25 && hexValue(raw.charCodeAt(i + 1)) >= 0 && hexValue(raw.charCodeAt(i + 2)) >= 0) {
        return { ok: false, problem: 'a double percent-encoding (%25 before two hex digits)' };
      }
      decoded += isUnreserved(b) ? String.fromCharCode(b) : `%${HEX[hi]}${HEX[lo]}`;
      continue;
    }
    if (!flushUtf8()) return { ok: false, problem: 'percent-encoded bytes that are not valid UTF-8' };
    if (c <= 0x20 || c >= 0x7f) return { ok: false, problem: 'a space, control or non-ASCII character' };
    if (c === 0x5c) return { ok: false, problem: 'a \\' };
    if (c === 0x23) return { ok: false, problem: 'a #' };
    if (c === 0x3b && refuseParameters) return { ok: false, problem: 'a ; (path parameter)' };
    decoded += raw[i];
  }
  if (!flushUtf8()) return { ok: false, problem: 'percent-encoded bytes that are not valid UTF-8' };
  if (folds) return { ok: false, problem: 'a non-ASCII character that folds to ASCII (case or NFKC)' };
  const merged = decoded.replace(/\/{2,}/g, '/');
  return { ok: true, path: removeDotSegments(merged), query };
}
