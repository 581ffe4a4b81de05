/**
 * policy/: routes and authorization rules → allow/deny with the rule that decided. Partners are
 * matched once per connection, route decisions cached per (connection, route).
 * It does no I/O: the file is read and validated by config/ (handed to request-authorizer.ts for
 * reloads), requests are forwarded by proxy/. request-authorizer.ts is the per-request decision the
 * request handler asks: the connection's verdict, then route, authorization or whoami.
 */
export { ConnectionAuthorization } from './connection-authorization.js';
export * from './document.js';
export {
  dnsNameMatches,
  normaliseFingerprint,
  normaliseSpkiPin,
  type PartnerMatch,
  PartnerMatcher,
  spkiPinOf,
} from './partner-matcher.js';
export { type AuthorizationDecision, DEFAULT_ROUTE_NAME, Policy } from './policy.js';
export {
  type Authorizer,
  type ConnectionDecision,
  RequestAuthorizer,
  type RequestAuthorizerOptions,
} from './request-authorizer.js';
export { normalizeRequestPath, type RequestPath } from './request-path.js';
export { prefixClaims, type Route, type RouteSelection, RouteTable } from './route-table.js';
export { compileUriPattern, type UriPattern } from './uri-pattern.js';
export { WHOAMI_PATH, type WhoamiChainElement, whoamiBody } from './whoami.js';
