/**
 * The compiled authorization policy: partners, routes and the decision for one (partner, route)
 * pair, with the rule that decided. Built once per load of the `GATEWAY_CONFIG` file (or, without a
 * file, the one `default` route to GATEWAY_UPSTREAM that every verified client may call) and
 * replaced whole on reload. Pure: no I/O.
 */
import { type ClientIdentity, undeclaredClientId } from '../identity/index.js';
import { ANY_PARTNER, type PolicyDocument, UNDECLARED_PARTNER_LABEL } from './document.js';
import { type PartnerMatch, PartnerMatcher } from './partner-matcher.js';
import { type Route, type RouteSelection, RouteTable, routeFromSpec } from './route-table.js';

export type AuthorizationDecision =
  | { readonly allowed: true; readonly rule: string }
  | { readonly allowed: false; readonly rule: string; readonly message: string };

export const DEFAULT_ROUTE_NAME = 'default';

export class Policy {
  readonly routes: RouteTable;
  readonly requireDeclaredPartners: boolean;
  /** undefined: the file does not say (whoami then follows dev mode). */
  readonly whoami: boolean | undefined;
  /** True when built from a GATEWAY_CONFIG file. */
  readonly fromFile: boolean;
  private readonly partners: PartnerMatcher;
  private readonly declaredIds: ReadonlySet<string>;

  private constructor(doc: PolicyDocument, defaultUpstream: string, fromFile: boolean) {
    this.fromFile = fromFile;
    this.requireDeclaredPartners = doc.requireDeclaredPartners;
    this.whoami = doc.whoami;
    this.partners = new PartnerMatcher(doc.partners);
    this.declaredIds = new Set(doc.partners.map((p) => p.id));
    const routes = doc.routes.map((r, i) => routeFromSpec(r, i, defaultUpstream));
    // GATEWAY_UPSTREAM serves requests no route claims (design.md), unless the file claims `/` itself.
    if (!routes.some((r) => r.prefix === '/')) {
      routes.push({
        name: routes.some((r) => r.name === DEFAULT_ROUTE_NAME) ? '_default' : DEFAULT_ROUTE_NAME,
        prefix: '/',
        methods: undefined,
        upstream: defaultUpstream,
        allow: new Set([ANY_PARTNER]),
        rule: 'default',
      });
    }
    this.routes = new RouteTable(routes);
  }

  /** The policy when GATEWAY_CONFIG is unset: one default route, every verified client allowed. */
  static defaultOnly(defaultUpstream: string): Policy {
    return new Policy({ partners: [], routes: [], requireDeclaredPartners: false }, defaultUpstream, false);
  }

  static fromDocument(doc: PolicyDocument, defaultUpstream: string): Policy {
    return new Policy(doc, defaultUpstream, true);
  }

  /** Once per connection: the first declared partner that matches, else `cn:<CN>` (undeclared). */
  partnerFor(identity: ClientIdentity): PartnerMatch {
    const m = this.partners.match(identity);
    if (m) return { declared: true, id: m.id, rule: m.rule };
    return { declared: false, id: undeclaredClientId(identity) };
  }

  /** The metric label for a partner: declared ids only, so cardinality is bounded by the file. */
  partnerLabel(partner: PartnerMatch): string {
    return partner.declared && this.declaredIds.has(partner.id) ? partner.id : UNDECLARED_PARTNER_LABEL;
  }

  select(method: string, path: string): RouteSelection | undefined {
    return this.routes.select(method, path);
  }

  /** Refusal for a certificate that matches no partner when partners must be declared. */
  connectionRefusal(partner: PartnerMatch, subject: string): AuthorizationDecision | undefined {
    if (partner.declared || !this.requireDeclaredPartners) return undefined;
    return {
      allowed: false,
      rule: 'requireDeclaredPartners',
      message: `The client certificate ${subject} matches no partner declared on this gateway, and only declared partners may call it.`,
    };
  }

  /** May this partner call this route? Cache the answer per (connection, route): it only depends on them. */
  authorize(partner: PartnerMatch, route: Route): AuthorizationDecision {
    if (route.allow.has(ANY_PARTNER)) return { allowed: true, rule: `${route.rule}.allow` };
    // Only declared partners can be named in `allow` (the file is validated so), so an undeclared
    // certificate whose CN happens to equal a partner id is never taken for that partner.
    if (partner.declared && route.allow.has(partner.id))
      return { allowed: true, rule: `${route.rule}.allow` };
    const who = partner.declared ? `Partner '${partner.id}'` : `The undeclared client '${partner.id}'`;
    return {
      allowed: false,
      rule: `${route.rule}.allow`,
      message: `${who} may not call route '${route.name}' (refused by ${route.rule}.allow).`,
    };
  }

  /** Routes this partner may call (for whoami), in selection order. */
  allowedRoutes(partner: PartnerMatch): Route[] {
    if (this.connectionRefusal(partner, '')) return [];
    return this.routes.routes.filter((r) => this.authorize(partner, r).allowed);
  }
}
