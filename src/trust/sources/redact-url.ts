/**
 * The one way a URL is shown: in logs, in `/trust` (`source`, `last_rejected`), in errors. A
 * source URL may carry a secret in its userinfo (`https://user:token@host/…`) or its query (a
 * presigned S3 URL's `X-Amz-Signature`, `X-Amz-Credential`, a SAS token): both are replaced by
 * `[redacted]`, so nothing shown can be replayed. Scheme, host, port and path stay, which is what
 * an operator needs to tell sources apart. Pure: no I/O.
 *
 * Security property: the rule follows what a URL parser would read as userinfo, not only the
 * `scheme://` spelling. WHATWG parsing takes `http:/user:pw@host`, `http:\\user:pw@host` and
 * `http:user:pw@host` as `http://user:pw@host`, so any run of `/` or `\` after the scheme (none
 * included) starts the authority; and when the parser finds userinfo the text itself does not
 * show (tabs or newlines inside it), the parsed URL is shown instead, redacted.
 */

const REDACTED = '[redacted]';

/** scheme `:`, any run of `/` or `\`, authority, path, then query or fragment. */
const URL_PARTS = /^([a-z][a-z0-9+.-]*:[/\\]*)([^/\\?#]*)([^?#]*)([?#][\s\S]*)?$/i;

function redactParts(url: string): string {
  const parts = URL_PARTS.exec(url);
  if (!parts) return url.replace(/[?#][\s\S]*$/, `?${REDACTED}`);
  const [, prefix, authority, path, rest] = parts;
  const at = authority!.lastIndexOf('@');
  const host = at === -1 ? authority! : `${REDACTED}@${authority!.slice(at + 1)}`;
  return `${prefix}${host}${path}${rest ? `?${REDACTED}` : ''}`;
}

/** `url` with its userinfo and its query (and fragment) replaced by `[redacted]`. */
export function redactUrl(url: string): string {
  let parsed: URL | undefined;
  try {
    parsed = new URL(url);
  } catch {
    parsed = undefined;
  }
  if (parsed && (parsed.username !== '' || parsed.password !== '')) {
    const shown = redactParts(url);
    // The text form already hides it (the usual case): keep the operator's own spelling.
    if (shown.includes(`${REDACTED}@`) && !shown.includes(parsed.password || parsed.username)) return shown;
    const tail = parsed.search !== '' || parsed.hash !== '' ? `?${REDACTED}` : '';
    return `${parsed.protocol}//${REDACTED}@${parsed.host}${parsed.pathname}${tail}`;
  }
  return redactParts(url);
}

/** Every URL inside free text (an error message), `scheme:/…` or `scheme://…`, passed through redactUrl. */
export function redactUrlsIn(text: string): string {
  return text.replace(/[a-z][a-z0-9+.-]*:[/\\]{1,2}[^\s'"<>()]+/gi, (url) => redactUrl(url));
}
