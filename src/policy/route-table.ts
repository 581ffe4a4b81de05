/**
 * Route selection: the longest path prefix (on whole segments) claims the request; among routes
 * with that prefix, the first whose methods include the request's wins. A prefix that matches
 * with the wrong method is refused rather than falling back to a shorter prefix, so restricting
 * `/admin` to GET can never send `DELETE /admin` to the `/` route. Pure: no I/O.
 *
 * Security property: prefixes match ASCII case-insensitively. Express, ASP.NET Core, IIS and
 * case-insensitive Spring serve `/ADMIN/users` as `/admin/users`, so a case-sensitive match would
 * send it to `/` and past the `/admin` rule. (Non-ASCII letters that fold to ASCII, such as the
 * dotless `ı`, are refused before routing: see request-path.ts.) Paths in normalizeRequestPath's
 * form are ASCII, so lower-casing them is ASCII lower-casing.
 */
import type { RouteSpec } from './document.js';

export interface Route {
  readonly name: string;
  readonly prefix: string;
  readonly methods: ReadonlySet<string> | undefined;
  /** Origin href (`http://host:port`). */
  readonly upstream: string;
  readonly allow: ReadonlySet<string>;
  /** JSON path of the route in the file (`routes[2]`), or `default` for the implicit route. */
  readonly rule: string;
}

export type RouteSelection =
  | { readonly ok: true; readonly route: Route }
  | { readonly ok: false; readonly route: Route; readonly rule: string };

/** True when `path` (no query) is claimed by `prefix` on a segment boundary, ASCII case ignored. */
export function prefixClaims(prefix: string, path: string): boolean {
  return lowerPrefixClaims(prefix.toLowerCase(), path.toLowerCase());
}

/** prefixClaims for a prefix and path both lower-cased already. */
function lowerPrefixClaims(prefix: string, path: string): boolean {
  if (prefix === '/' || prefix.endsWith('/')) return path.startsWith(prefix);
  return path === prefix || path.startsWith(`${prefix}/`);
}

export class RouteTable {
  /** Longest prefix first, equal prefixes (ignoring case) adjacent, file order kept among them. */
  private readonly ordered: readonly { readonly route: Route; readonly key: string }[];

  constructor(readonly routes: readonly Route[]) {
    this.ordered = routes
      .map((route, i) => ({ route, key: route.prefix.toLowerCase(), i }))
      .sort(
        (a, b) => b.key.length - a.key.length || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0) || a.i - b.i,
      )
      .map(({ route, key }) => ({ route, key }));
  }

  /** `path` is the request target's path in normalizeRequestPath's form, without the query. */
  select(method: string, path: string): RouteSelection | undefined {
    const lower = path.toLowerCase();
    let claimed: { readonly route: Route; readonly key: string } | undefined;
    for (const entry of this.ordered) {
      if (claimed && entry.key !== claimed.key) break;
      if (!lowerPrefixClaims(entry.key, lower)) continue;
      claimed ??= entry;
      if (!entry.route.methods || entry.route.methods.has(method)) return { ok: true, route: entry.route };
    }
    return claimed ? { ok: false, route: claimed.route, rule: `${claimed.route.rule}.methods` } : undefined;
  }
}

export function routeFromSpec(spec: RouteSpec, index: number, defaultUpstream: string): Route {
  return {
    name: spec.name,
    prefix: spec.prefix,
    methods: spec.methods ? new Set(spec.methods) : undefined,
    upstream: spec.upstream ?? defaultUpstream,
    allow: new Set(spec.allow),
    rule: `routes[${index}]`,
  };
}
