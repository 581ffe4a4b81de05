/**
 * Policy's own decisions without certificates (policy.ts): the implicit default route, the
 * metric label, and every allow and refusal with its rule and sentence. test/policy/policy.test.ts
 * covers partner matching against real certificates.
 */
import { describe, expect, it } from 'vitest';
import { DEFAULT_ROUTE_NAME, Policy, type PolicyDocument } from '../../src/policy/index.js';

const UPSTREAM = 'http://127.0.0.1:8081';
const doc = (routes: PolicyDocument['routes']): PolicyDocument => ({
  partners: [{ id: 'acme', match: [{ commonName: ['acme'] }] }],
  routes,
  requireDeclaredPartners: false,
});
const acme = { declared: true, id: 'acme', rule: 'partners[0].match[0]' } as const;

function routeFor(policy: Policy, path: string) {
  const s = policy.select('GET', path);
  if (!s?.ok) throw new Error(`no route for ${path}`);
  return s.route;
}

describe('the implicit default route', () => {
  it('serves what no route claims, open to any verified client, unless the file claims /', () => {
    const p = Policy.fromDocument(doc([{ name: 'api', prefix: '/api', allow: ['acme'] }]), UPSTREAM);
    expect(p.fromFile).toBe(true);
    expect(routeFor(p, '/else')).toEqual({
      name: DEFAULT_ROUTE_NAME,
      prefix: '/',
      methods: undefined,
      upstream: UPSTREAM,
      allow: new Set(['*']),
      rule: 'default',
    });
    const own = Policy.fromDocument(doc([{ name: 'root', prefix: '/', allow: ['acme'] }]), UPSTREAM);
    expect(own.routes.routes.map((r) => r.name)).toEqual(['root']);
  });

  it('is called _default when the file already has a route named default', () => {
    const p = Policy.fromDocument(
      doc([{ name: DEFAULT_ROUTE_NAME, prefix: '/api', allow: ['*'] }]),
      UPSTREAM,
    );
    expect(routeFor(p, '/else').name).toBe('_default');
    expect(routeFor(p, '/api').name).toBe(DEFAULT_ROUTE_NAME);
  });

  it('is the only route without a file', () => {
    const p = Policy.defaultOnly(UPSTREAM);
    expect(p.fromFile).toBe(false);
    expect(p.routes.routes.map((r) => [r.name, r.prefix, r.rule])).toEqual([
      [DEFAULT_ROUTE_NAME, '/', 'default'],
    ]);
  });
});

describe('partnerLabel', () => {
  it('is a declared id only for a declared partner of this policy', () => {
    const p = Policy.fromDocument(doc([]), UPSTREAM);
    expect(p.partnerLabel(acme)).toBe('acme');
    expect(p.partnerLabel({ declared: true, id: 'ghost', rule: 'partners[9].match[0]' })).toBe('undeclared');
    expect(p.partnerLabel({ declared: false, id: 'acme' })).toBe('undeclared');
  });
});

describe('authorize', () => {
  const p = (): Policy =>
    Policy.fromDocument(
      doc([
        { name: 'open', prefix: '/open', allow: ['*'] },
        { name: 'acme-only', prefix: '/acme', allow: ['acme'] },
      ]),
      UPSTREAM,
    );

  it('allows anyone on a * route and a listed partner on its route, naming the allow rule', () => {
    const policy = p();
    const stranger = { declared: false, id: 'cn:x' } as const;
    expect(policy.authorize(stranger, routeFor(policy, '/open'))).toEqual({
      allowed: true,
      rule: 'routes[0].allow',
    });
    expect(policy.authorize(acme, routeFor(policy, '/acme'))).toEqual({
      allowed: true,
      rule: 'routes[1].allow',
    });
  });

  it('refuses everyone else with a sentence naming who, the route and the rule', () => {
    const policy = p();
    const route = routeFor(policy, '/acme');
    expect(policy.authorize({ declared: false, id: 'acme' }, route)).toEqual({
      allowed: false,
      rule: 'routes[1].allow',
      message: "The undeclared client 'acme' may not call route 'acme-only' (refused by routes[1].allow).",
    });
    expect(policy.authorize({ declared: true, id: 'other', rule: 'r' }, route)).toEqual({
      allowed: false,
      rule: 'routes[1].allow',
      message: "Partner 'other' may not call route 'acme-only' (refused by routes[1].allow).",
    });
  });

  it('lists the routes a partner may call, in file order', () => {
    const policy = p();
    expect(policy.allowedRoutes(acme).map((r) => r.name)).toEqual(['open', 'acme-only', DEFAULT_ROUTE_NAME]);
    expect(policy.allowedRoutes({ declared: false, id: 'cn:x' }).map((r) => r.name)).toEqual([
      'open',
      DEFAULT_ROUTE_NAME,
    ]);
  });
});
