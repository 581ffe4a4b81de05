/**
 * Route selection: the longest path prefix (on whole segments) claims the request; among routes
 * with that prefix, the first whose methods include the request's wins. A prefix that matches
 * with the wrong method is refused rather than falling back to a shorter prefix, so restricting
 * `/admin` to GET can never send `DELETE /admin` to the `/` route. Pure: no I/O.
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

/** True when `path` (no query) is claimed by `prefix` on a segment boundary. */
export function prefixClaims(prefix: string, path: string): boolean {
  if (prefix === '/' || prefix.endsWith('/')) return path.startsWith(prefix);
  return path === prefix || path.startsWith(`${prefix}/`);
}

export class RouteTable {
  /** Longest prefix first, equal prefixes adjacent, file order kept among them. */
  private readonly ordered: readonly Route[];

  constructor(readonly routes: readonly Route[]) {
    this.ordered = routes
      .map((r, i) => ({ r, i }))
      .sort(
        (a, b) =>
          b.r.prefix.length - a.r.prefix.length ||
          (a.r.prefix < b.r.prefix ? -1 : a.r.prefix > b.r.prefix ? 1 : 0) ||
          a.i - b.i,
      )
      .map((x) => x.r);
  }

  /** `path` is the request target's path in normalizeRequestPath's form, without the query. */
  select(method: string, path: string): RouteSelection | undefined {
    let claimed: Route | undefined;
    for (const route of this.ordered) {
      if (claimed && route.prefix !== claimed.prefix) break;
      if (!prefixClaims(route.prefix, path)) continue;
      claimed ??= route;
      if (!route.methods || route.methods.has(method)) return { ok: true, route };
    }
    return claimed ? { ok: false, route: claimed, rule: `${claimed.rule}.methods` } : undefined;
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
