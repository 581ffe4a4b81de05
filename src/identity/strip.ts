/**
 * Which request headers a client may not send upstream: every identity header of every format
 * (enabled or not) and every hop-by-hop header.
 *
 * Security property: a client can never pass off its own identity header (any format, any case
 * once lower-cased) as one the gateway set, because every such name is dropped before ours are
 * added; names that merely look similar (`x-clientele`) are left alone. Runs for every header of
 * every request, so it is a switch on characters and prefix checks, without regular expressions.
 */

/**
 * True for `x-client-*`, `x-forwarded-client-cert`, `x-amzn-mtls-*`, `client-cert`,
 * `client-cert-chain`, `x-forwarded-tls-client-cert*` and `x-ssl-client-*`. `lowerName` must
 * already be lower-case (Node's `rawHeaders` keep the client's case; lower-case them first).
 */
export function isIdentityHeader(lowerName: string): boolean {
  switch (lowerName.charCodeAt(0)) {
    case 0x63: // c
      return lowerName === 'client-cert' || lowerName === 'client-cert-chain';
    case 0x78: // x
      if (lowerName.charCodeAt(1) !== 0x2d) return false; // '-'
      switch (lowerName.charCodeAt(2)) {
        case 0x63: // x-c…
          return lowerName.startsWith('x-client-');
        case 0x66: // x-f…
          return (
            lowerName === 'x-forwarded-client-cert' || lowerName.startsWith('x-forwarded-tls-client-cert')
          );
        case 0x61: // x-a…
          return lowerName.startsWith('x-amzn-mtls-');
        case 0x73: // x-s…
          return lowerName.startsWith('x-ssl-client-');
        default:
          return false;
      }
    default:
      return false;
  }
}

/**
 * The fixed hop-by-hop headers (RFC 9110 §7.6.1 and the legacy ones), lower-case. `proxy-*` is a
 * prefix rule (see `isHopByHop`); its common members are listed here too so that a plain
 * set lookup already catches them.
 */
export const HOP_BY_HOP: ReadonlySet<string> = new Set([
  'connection',
  'keep-alive',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'proxy-connection',
  'proxy-authorization',
  'proxy-authenticate',
]);

/**
 * HOP_BY_HOP plus every name the client's Connection header lists (comma-separated tokens,
 * lower-cased, whitespace trimmed). Without a Connection header the shared set is returned.
 */
export function hopByHopNames(connectionHeaderValue: string | undefined): ReadonlySet<string> {
  if (connectionHeaderValue === undefined || connectionHeaderValue === '') return HOP_BY_HOP;
  // The common values name nothing beyond HOP_BY_HOP: no Set per request for them.
  const plain = connectionHeaderValue.toLowerCase();
  if (plain === 'keep-alive' || plain === 'close') return HOP_BY_HOP;
  const names = new Set(HOP_BY_HOP);
  for (const token of connectionHeaderValue.split(',')) {
    const name = token.trim().toLowerCase();
    if (name !== '') names.add(name);
  }
  return names;
}

/** True when `lowerName` is hop-by-hop: in `names` (from hopByHopNames) or any `proxy-*`. */
export function isHopByHop(lowerName: string, names: ReadonlySet<string> = HOP_BY_HOP): boolean {
  return names.has(lowerName) || lowerName.startsWith('proxy-');
}
