/**
 * GATEWAY_CONFIG validation: every mistake names its JSON path, at start it is a ConfigError naming
 * GATEWAY_CONFIG (exit 2), and a valid file becomes the PolicyDocument the gateway compiles.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config/config.js';
import { GatewayConfigFileError, parseGatewayConfig } from '../../src/config/gateway-config-file.js';

const dir = mkdtempSync(join(tmpdir(), 'gw-config-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const valid = {
  whoami: true,
  requireDeclaredPartners: true,
  partners: [
    { id: 'partner-a', match: { commonName: 'partner-a', issuer: ['CN=ca,O=Acme'] } },
    {
      id: 'partner-b',
      match: [{ sanUri: 'spiffe://partners.example/partner-b/**' }, { organization: ['B'] }],
    },
  ],
  routes: [
    {
      name: 'receipts',
      prefix: '/receipts',
      methods: ['GET', 'POST'],
      upstream: 'http://10.0.1.5:8080',
      allow: ['partner-a'],
    },
    { name: 'admin', prefix: '/admin', allow: [] },
    { name: 'public', prefix: '/', allow: ['*'] },
  ],
};

function problem(doc: unknown): string {
  try {
    parseGatewayConfig(JSON.stringify(doc));
  } catch (err) {
    expect(err).toBeInstanceOf(GatewayConfigFileError);
    return (err as Error).message;
  }
  throw new Error('the document was accepted');
}

const withRoute = (i: number, patch: Record<string, unknown>): unknown => ({
  ...valid,
  routes: valid.routes.map((r, j) => (j === i ? { ...r, ...patch } : r)),
});
const withPartner = (i: number, patch: Record<string, unknown>): unknown => ({
  ...valid,
  partners: valid.partners.map((p, j) => (j === i ? { ...p, ...patch } : p)),
});

describe('GATEWAY_CONFIG file validation', () => {
  it('accepts a full document', () => {
    const doc = parseGatewayConfig(JSON.stringify(valid));
    expect(doc.whoami).toBe(true);
    expect(doc.requireDeclaredPartners).toBe(true);
    expect(doc.partners[0]?.match).toEqual([{ commonName: ['partner-a'], issuer: ['CN=ca,O=Acme'] }]);
    expect(doc.routes[0]).toMatchObject({ upstream: 'http://10.0.1.5:8080', methods: ['GET', 'POST'] });
    expect(doc.routes[1]?.allow).toEqual([]);
  });

  it.each([
    [
      'ftp upstream',
      withRoute(2, { upstream: 'ftp://x' }),
      "routes[2].upstream: 'ftp://x' must be http:// or https://",
    ],
    [
      'upstream with a path',
      withRoute(0, { upstream: 'http://h:1/api' }),
      "routes[0].upstream: 'http://h:1/api' must be an origin only",
    ],
    [
      'unknown partner in allow',
      withRoute(0, { allow: ['partner-a', 'partner-z'] }),
      "routes[0].allow[1]: 'partner-z' is not a partner id declared",
    ],
    ['missing allow', withRoute(1, { allow: undefined }), 'routes[1].allow: is required'],
    [
      'bad method',
      withRoute(0, { methods: ['GET', 'FETCH'] }),
      "routes[0].methods[1]: 'FETCH' is not one of",
    ],
    [
      'prefix without /',
      withRoute(0, { prefix: 'receipts' }),
      "routes[0].prefix: 'receipts' must be a plain normalized path",
    ],
    ['dot segment prefix', withRoute(0, { prefix: '/a/../b' }), 'routes[0].prefix'],
    [
      'duplicate route name',
      withRoute(1, { name: 'receipts' }),
      "routes[1].name: 'receipts' is used by another route",
    ],
    [
      'same prefix, overlapping methods',
      withRoute(1, { prefix: '/receipts', methods: ['POST'] }),
      "routes[1].methods: route 'receipts' already claims prefix '/receipts'",
    ],
    [
      'same prefix in another letter case, overlapping methods',
      withRoute(1, { prefix: '/RECEIPTS', methods: ['POST'] }),
      "routes[1].methods: route 'receipts' already claims prefix '/RECEIPTS'",
    ],
    ['typo in a route key', withRoute(0, { upstreem: 'http://x' }), 'routes[0].upstreem: is not a known key'],
    [
      'duplicate partner id',
      withPartner(1, { id: 'partner-a' }),
      "partners[1].id: 'partner-a' is declared twice",
    ],
    ['reserved partner id', withPartner(0, { id: 'undeclared' }), 'partners[0].id'],
    ['empty matcher', withPartner(0, { match: {} }), 'partners[0].match: needs at least one of'],
    [
      'bad fingerprint',
      withPartner(0, { match: { fingerprintSha256: 'abc' } }),
      "partners[0].match.fingerprintSha256: 'abc' is not a SHA-256 fingerprint",
    ],
    [
      'bad SPKI pin',
      withPartner(1, { match: [{ spkiSha256: ['nope'] }] }),
      "partners[1].match[0].spkiSha256[0]: 'nope' is not a base64 SHA-256 SPKI pin",
    ],
    [
      'wildcard in the URI host',
      withPartner(1, { match: [{ sanUri: 'spiffe://*.x/a' }] }),
      "partners[1].match[0].sanUri: 'spiffe://*.x/a': wildcards are allowed in the path only",
    ],
    [
      'unknown matcher field',
      withPartner(0, { match: { cn: 'x' } }),
      'partners[0].match.cn: is not a known key',
    ],
    ['non-boolean', { ...valid, whoami: 'yes' }, 'whoami: must be true or false, got "yes"'],
    ['unknown top-level key', { ...valid, route: [] }, '(top level).route: is not a known key'],
  ])('%s', (_name, doc, expected) => {
    expect(problem(doc)).toContain(expected);
  });

  it('accepts the full example in the README', () => {
    const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
    const section = readme.slice(readme.indexOf('## Routes, partners and authorization'));
    const example = /```json\n([\s\S]*?)```/.exec(section)?.[1];
    const doc = parseGatewayConfig(example ?? '');
    expect(doc.routes.map((r) => r.name)).toEqual(['receipts', 'receipts-archive', 'admin', 'default']);
    expect(doc.partners).toHaveLength(4);
  });

  it('names the line and column of a JSON syntax error', () => {
    expect(() => parseGatewayConfig('{\n  "routes": [\n    { "name": "x", }\n  ]\n}')).toThrow(
      /\(file\): is not valid JSON at line 3 column \d+/,
    );
  });

  it('is a ConfigError naming GATEWAY_CONFIG at start, and read into Config when valid', () => {
    const bad = join(dir, 'bad.json');
    writeFileSync(bad, JSON.stringify(withRoute(2, { upstream: 'ftp://x' })));
    let caught: unknown;
    try {
      loadConfig({ GATEWAY_CONFIG: bad });
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(ConfigError);
    expect((caught as ConfigError).variable).toBe('GATEWAY_CONFIG');
    expect((caught as Error).message).toMatch(/^GATEWAY_CONFIG: routes\[2\]\.upstream: 'ftp:\/\/x' must be/);
    expect((caught as Error).message).toContain(bad);

    expect(() => loadConfig({ GATEWAY_CONFIG: join(dir, 'missing.json') })).toThrow(
      /GATEWAY_CONFIG: \(file\): cannot be read: ENOENT/,
    );

    const good = join(dir, 'good.json');
    writeFileSync(good, JSON.stringify(valid));
    const config = loadConfig({ GATEWAY_CONFIG: good });
    expect(config.policyFile?.document.routes.map((r) => r.name)).toEqual(['receipts', 'admin', 'public']);
    expect(loadConfig({}).policyFile).toBeUndefined();
  });
});
