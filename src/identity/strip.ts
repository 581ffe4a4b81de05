/**
 * Which request headers a client may not send upstream: every identity header of every format
 * (enabled or not) and of the other proxies upstreams are configured to trust, every forwarding
 * and method-override header, every hop-by-hop header, and by default every header whose name
 * contains `_` or `.`.
 *
 * Security property: names are compared in one normalized form (`headerKey`: lower case, `_` and
 * `.` read as `-`), because CGI/WSGI, Rack, PHP-FPM and nginx with `underscores_in_headers on`
 * read `X_Client_Id` as `X-Client-Id`, and PHP also reads `X.Client.Id` so (its variable names
 * turn `.` into `_`). So a client can never pass off its own identity or forwarding header, in any
 * case or spelling, as one the gateway set; names that merely look similar (`x-clientele`) are
 * left alone. Runs for every header of every request, so it is a switch on characters and prefix
 * checks, without regular expressions.
 */

/** True when `name` holds a character some upstream reads as `-` (`_`, or `.` as PHP does). */
export function hasDashAlias(name: string): boolean {
  return name.includes('_') || name.includes('.');
}

/** The one form header names are compared in: lower case, `_` and `.` read as `-` (CGI/WSGI, PHP). */
export function headerKey(name: string): string {
  const lower = name.toLowerCase();
  return hasDashAlias(lower) ? lower.replace(/[_.]/g, '-') : lower;
}

/**
 * True for `x-client-*`, `x-forwarded-client-cert`, `x-amzn-mtls-*`, `client-cert`,
 * `client-cert-chain`, `x-forwarded-tls-client-cert*`, and the client-certificate headers of
 * other proxies that upstreams are configured to trust: every `x-ssl-*` (nginx `X-SSL-Cert`,
 * HAProxy `X-SSL-Client-*`, `X-SSL-Subject`), every `ssl-client-*` (mod_ssl's `SSL_CLIENT_CERT`,
 * `SSL_CLIENT_S_DN` forwarded by name, Keycloak's `SSL-Client-Cert`) and `x-arr-clientcert`
 * (Azure App Service, ASP.NET Core certificate forwarding); in any case and with `_` or `.` for
 * `-` (the name is put in `headerKey` form first).
 */
export function isIdentityHeader(name: string): boolean {
  return isIdentityKey(headerKey(name));
}

/** isIdentityHeader for a name already in `headerKey` form (the proxy's hot path). */
export function isIdentityKey(key: string): boolean {
  switch (key.charCodeAt(0)) {
    case 0x63: // c (Cloudflare's mTLS headers: Cf-Cert-Verified, Cf-Cert-Subject-DN, …)
      return key === 'client-cert' || key === 'client-cert-chain' || key.startsWith('cf-cert-');
    case 0x73: // s
      return key.startsWith('ssl-client-');
    case 0x78: // x
      if (key.charCodeAt(1) !== 0x2d) return false; // '-'
      switch (key.charCodeAt(2)) {
        case 0x63: // x-c…
          return key.startsWith('x-client-');
        case 0x66: // x-f…
          return key === 'x-forwarded-client-cert' || key.startsWith('x-forwarded-tls-client-cert');
        case 0x61: // x-a…
          return key.startsWith('x-amzn-mtls-') || key === 'x-arr-clientcert';
        case 0x73: // x-s…
          return key.startsWith('x-ssl-');
        default:
          return false;
      }
    default:
      return false;
  }
}

/**
 * The forwarding and override headers that no prefix rule below covers (`x-forwarded-*`,
 * `x-original-*` and `x-envoy-*` are all stripped).
 */
const FORWARDING: ReadonlySet<string> = new Set([
  'forwarded',
  'forwarded-for',
  'x-forwarded',
  'x-real-ip',
  'x-rewrite-url',
  'true-client-ip',
  'client-ip',
  'x-client-ip', // also x-client-* (identity); listed so either list alone covers it
  'x-cluster-client-ip',
  'cf-connecting-ip',
  'fastly-client-ip',
  'x-proxyuser-ip',
  'x-http-method-override',
  'x-http-method',
  'x-method-override',
  // The mount point some frameworks prepend to the routed path (Flask/werkzeug ReverseProxied):
  // `/x/admin` + `X-Script-Name: /x` would be served as `/admin`.
  'x-script-name',
  'script-name',
  'x-appengine-user-ip',
  'cf-pseudo-ipv4',
  'fly-client-ip',
]);

/**
 * True for headers that tell an upstream where a request came from, what it asked for or how to
 * act on it: `Forwarded` (RFC 7239), `X-Forwarded` and every `X-Forwarded-*` (For, Proto, Host,
 * Port, Prefix, …), `Forwarded-For`, `X-Real-IP`, `True-Client-IP`, `Client-IP`,
 * `X-Cluster-Client-IP`, `CF-Connecting-IP`, `Fastly-Client-IP`, `X-ProxyUser-IP` (frameworks
 * and the `request-ip` package take the client address from them); every `X-Original-*` and
 * `X-Rewrite-URL` (IIS, Symfony and some Spring setups act on the path they carry); every
 * `X-Envoy-*` (a service moving from Envoy trusts `X-Envoy-Internal`, `-External-Address`,
 * `-Original-Path`); and `X-HTTP-Method-Override`, `X-HTTP-Method`, `X-Method-Override` (Rack,
 * ASP.NET Core and Express act on a method other than the one the route authorised). A client's
 * copy never passes: the gateway sets its own where it has one.
 */
export function isForwardingHeader(name: string): boolean {
  return isForwardingKey(headerKey(name));
}

/** isForwardingHeader for a name already in `headerKey` form (the proxy's hot path). */
export function isForwardingKey(key: string): boolean {
  switch (key.charCodeAt(0)) {
    case 0x63: // c
    case 0x66: // f
    case 0x73: // s
    case 0x74: // t
      return FORWARDING.has(key);
    case 0x78: // x
      return (
        key.startsWith('x-forwarded-') ||
        key.startsWith('x-original-') ||
        key.startsWith('x-envoy-') ||
        FORWARDING.has(key)
      );
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
 * HOP_BY_HOP plus every name the client's Connection header lists (comma-separated tokens, in
 * `headerKey` form, whitespace trimmed). Without a Connection header the shared set is returned.
 */
export function hopByHopNames(connectionHeaderValue: string | undefined): ReadonlySet<string> {
  if (connectionHeaderValue === undefined || connectionHeaderValue === '') return HOP_BY_HOP;
  // The common values name nothing beyond HOP_BY_HOP: no Set per request for them.
  const plain = connectionHeaderValue.toLowerCase();
  if (plain === 'keep-alive' || plain === 'close') return HOP_BY_HOP;
  const names = new Set(HOP_BY_HOP);
  for (const token of connectionHeaderValue.split(',')) {
    const name = headerKey(token.trim());
    if (name !== '') names.add(name);
  }
  return names;
}

/** True when `key` (in `headerKey` form) is hop-by-hop: in `names` (from hopByHopNames) or any `proxy-*`. */
export function isHopByHop(key: string, names: ReadonlySet<string> = HOP_BY_HOP): boolean {
  return names.has(key) || key.startsWith('proxy-');
}
