/**
 * Route selection on its own (route-table.ts): prefixes claim whole segments ignoring ASCII case,
 * the longest prefix wins, routes with an equal prefix (in any case) are tried in file order for
 * the method, and a prefix matched with the wrong method is refused, never handed to a shorter one.
 */
import { describe, expect, it } from 'vitest';
import { prefixClaims, type Route, RouteTable, routeFromSpec } from '../../src/policy/route-table.js';

const UPSTREAM = 'http://127.0.0.1:9000';
const table = (...specs: { prefix: string; methods?: string[] }[]): RouteTable =>
  new RouteTable(specs.map((s, i) => routeFromSpec({ name: `r${i}`, allow: ['*'], ...s }, i, UPSTREAM)));

/** The rule of the selected route, `refused <rule>` for a method refusal, or `none`. */
function selected(t: RouteTable, method: string, path: string): string {
  const s = t.select(method, path);
  if (!s) return 'none';
  return s.ok ? s.route.rule : `refused ${s.rule} (${s.route.rule})`;
}

describe('prefixClaims', () => {
  it.each([
    ['/', '/', true],
    ['/', '/anything/at/all', true],
    ['/admin', '/admin', true],
    ['/admin', '/admin/', true],
    ['/admin', '/admin/users', true],
    ['/admin', '/administrator', false],
    ['/admin', '/admi', false],
    ['/admin', '/x/admin', false],
    ['/admin/', '/admin', false],
    ['/admin/', '/admin/users', true],
    ['/Admin', '/ADMIN/users', true],
    ['/admin', '/ADMIN', true],
    ['/ADMIN/', '/admin/x', true],
  ])('%s claims %s: %s', (prefix, path, claims) => {
    expect(prefixClaims(prefix, path)).toBe(claims);
  });
});

describe('RouteTable.select', () => {
  // Built inside each test, so Stryker counts the sort as covered by the tests that rely on it.
  const standard = (): RouteTable =>
    table(
      { prefix: '/' },
      { prefix: '/admin', methods: ['GET'] },
      { prefix: '/abc' },
      { prefix: '/ADMIN', methods: ['POST'] },
      { prefix: '/admin/users' },
    );

  it('takes the longest prefix that claims the path', () => {
    const t = standard();
    expect(selected(t, 'GET', '/admin/users/1')).toBe('routes[4]');
    expect(selected(t, 'DELETE', '/Admin/Users')).toBe('routes[4]');
    expect(selected(t, 'GET', '/admin')).toBe('routes[1]');
    expect(selected(t, 'GET', '/abc/x')).toBe('routes[2]');
    expect(selected(t, 'GET', '/other')).toBe('routes[0]');
    expect(selected(t, 'GET', '/administrator')).toBe('routes[0]');
  });

  it('tries routes of an equal prefix, whatever their case, in file order for the method', () => {
    const t = standard();
    expect(selected(t, 'POST', '/admin/x')).toBe('routes[3]');
    expect(selected(t, 'GET', '/ADMIN/x')).toBe('routes[1]');
    // Another prefix of the same length between them in the file does not split them.
    const split = table(
      { prefix: '/abd' },
      { prefix: '/abc', methods: ['GET'] },
      { prefix: '/abe' },
      { prefix: '/ABC', methods: ['POST'] },
    );
    expect(selected(split, 'POST', '/abc/x')).toBe('routes[3]');
    expect(selected(split, 'GET', '/Abc')).toBe('routes[1]');
    expect(selected(split, 'PUT', '/abc')).toBe('refused routes[1].methods (routes[1])');
    expect(selected(split, 'PUT', '/abe')).toBe('routes[2]');
    expect(selected(split, 'PUT', '/abd/x')).toBe('routes[0]');
    // Of two equal prefixes that both take the method, the first in the file wins; a refusal names it.
    const both = table({ prefix: '/x', methods: ['GET'] }, { prefix: '/X', methods: ['GET', 'POST'] });
    expect(selected(both, 'GET', '/x')).toBe('routes[0]');
    expect(selected(both, 'POST', '/x')).toBe('routes[1]');
    expect(selected(both, 'PUT', '/x')).toBe('refused routes[0].methods (routes[0])');
  });

  it('refuses a method no route of the longest prefix takes, never falling back to a shorter prefix', () => {
    const t = standard();
    expect(selected(t, 'DELETE', '/admin/x')).toBe('refused routes[1].methods (routes[1])');
    expect(selected(t, 'get', '/admin')).toBe('refused routes[1].methods (routes[1])');
  });

  it('selects nothing when no prefix claims the path', () => {
    const narrow = table({ prefix: '/api' }, { prefix: '/api/v2', methods: ['GET'] });
    expect(selected(narrow, 'GET', '/other')).toBe('none');
    expect(selected(narrow, 'GET', '/api/v2/x')).toBe('routes[1]');
    expect(selected(narrow, 'PUT', '/api/v2/x')).toBe('refused routes[1].methods (routes[1])');
    expect(selected(narrow, 'PUT', '/api/v3')).toBe('routes[0]');
  });

  it('keeps the routes it was given, in file order', () => {
    const t = standard();
    expect(t.routes.map((r) => r.prefix)).toEqual(['/', '/admin', '/abc', '/ADMIN', '/admin/users']);
  });
});

describe('routeFromSpec', () => {
  it('copies the spec, with methods as a set, the default upstream and the rule path', () => {
    const route: Route = routeFromSpec(
      { name: 'receipts', prefix: '/receipts', methods: ['GET', 'HEAD'], allow: ['acme', 'globex'] },
      3,
      UPSTREAM,
    );
    expect(route).toEqual({
      name: 'receipts',
      prefix: '/receipts',
      methods: new Set(['GET', 'HEAD']),
      upstream: UPSTREAM,
      allow: new Set(['acme', 'globex']),
      rule: 'routes[3]',
    });
    const own = routeFromSpec(
      { name: 'x', prefix: '/', upstream: 'http://10.0.0.1:80', allow: [] },
      0,
      UPSTREAM,
    );
    expect(own.upstream).toBe('http://10.0.0.1:80');
    expect(own.methods).toBeUndefined();
    expect(own.allow.size).toBe(0);
  });
});
