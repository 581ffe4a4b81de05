/**
 * What one verified connection may do under one policy: its partner (matched once), and the
 * decision per route, computed on first use and cached, so a keep-alive connection pays for the
 * partner match once and for each route's decision once. A reloaded policy means a new instance.
 */
import type { ClientIdentity } from '../identity/index.js';
import type { PartnerMatch } from './partner-matcher.js';
import type { AuthorizationDecision, Policy } from './policy.js';
import type { Route } from './route-table.js';

export class ConnectionAuthorization {
  readonly partner: PartnerMatch;
  /** Bounded metric label: a declared partner id or `undeclared`. */
  readonly partnerLabel: string;
  private readonly refusal: AuthorizationDecision | undefined;
  private readonly decisions = new Map<Route, AuthorizationDecision>();

  constructor(
    readonly policy: Policy,
    identity: ClientIdentity,
  ) {
    this.partner = policy.partnerFor(identity);
    this.partnerLabel = policy.partnerLabel(this.partner);
    this.refusal = policy.connectionRefusal(this.partner, identity.subject);
  }

  /** Set when every route is refused to this connection (undeclared partner, declared partners required). */
  get connectionRefusal(): AuthorizationDecision | undefined {
    return this.refusal;
  }

  authorize(route: Route): AuthorizationDecision {
    if (this.refusal) return this.refusal;
    let d = this.decisions.get(route);
    if (!d) {
      d = this.policy.authorize(this.partner, route);
      this.decisions.set(route, d);
    }
    return d;
  }
}
