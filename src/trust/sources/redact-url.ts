/**
 * The one way a URL is shown: in logs, in `/trust` (`source`, `last_rejected`), in errors. A
 * source URL may carry a secret in its userinfo (`https://user:token@host/…`) or its query (a
 * presigned S3 URL's `X-Amz-Signature`, `X-Amz-Credential`, a SAS token): both are replaced by
 * `[redacted]`, so nothing shown can be replayed. Scheme, host, port and path stay, which is what
 * an operator needs to tell sources apart. Pure: no I/O.
 */

const REDACTED = '[redacted]';

/** `url` with its userinfo and its query (and fragment) replaced by `[redacted]`. */
export function redactUrl(url: string): string {
  const scheme = /^([a-z][a-z0-9+.-]*:\/\/)([^/?#]*)([^?#]*)([?#][\s\S]*)?$/i.exec(url);
  if (!scheme) return url.replace(/[?#][\s\S]*$/, `?${REDACTED}`);
  const [, prefix, authority, path, rest] = scheme;
  const at = authority!.lastIndexOf('@');
  const host = at === -1 ? authority! : `${REDACTED}@${authority!.slice(at + 1)}`;
  return `${prefix}${host}${path}${rest ? `?${REDACTED}` : ''}`;
}

/** Every `scheme://…` URL inside free text (an error message) passed through redactUrl. */
export function redactUrlsIn(text: string): string {
  return text.replace(/[a-z][a-z0-9+.-]*:\/\/[^\s'"<>()]+/gi, (url) => redactUrl(url));
}
