/**
 * Seeded header-name fuzz (issue 14): every identity header name of every format and every
 * forwarding header name, in random case, with `-` written `_` or `.` at random, duplicated, with odd
 * whitespace around values (and, now and then, before the colon or folded onto a second line).
 * Whatever the gateway answers, nothing but our own values reaches the recording upstream: read
 * the way CGI/WSGI read names (`_` as `-`), every identity or forwarding header it received is one
 * the gateway set, once, with the gateway's value. A failing case replays from its seed:
 * MTLS_GATEWAY_FUZZ_SEED=… MTLS_GATEWAY_FUZZ_ITERATIONS=… (more by hand; CI runs a few dozen).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { headerKey, isForwardingHeader, isIdentityHeader } from '../../src/identity/strip.js';
import { rawExchange, startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { makeTestPki, type TestPki } from '../helpers/pki.js';
import { mulberry32 } from '../helpers/prng.js';

const SEED = Number(process.env.MTLS_GATEWAY_FUZZ_SEED ?? 14);
const ITERATIONS = Number(process.env.MTLS_GATEWAY_FUZZ_ITERATIONS ?? 40);

const NAMES = [
  // gateway
  'X-Client-Verify',
  'X-Client-Subject',
  'X-Client-Issuer',
  'X-Client-Serial',
  'X-Client-Fingerprint-SHA256',
  'X-Client-SAN-DNS',
  'X-Client-SAN-URI',
  'X-Client-SAN-Email',
  'X-Client-Not-After',
  'X-Client-Id',
  'X-Client-Declared',
  'X-Client-Cert',
  // xfcc, alb, rfc9440, Traefik, nginx-style
  'X-Forwarded-Client-Cert',
  'X-Amzn-Mtls-Clientcert-Serial-Number',
  'X-Amzn-Mtls-Clientcert-Issuer',
  'X-Amzn-Mtls-Clientcert-Subject',
  'X-Amzn-Mtls-Clientcert-Validity',
  'X-Amzn-Mtls-Clientcert-Leaf',
  'Client-Cert',
  'Client-Cert-Chain',
  'X-Forwarded-Tls-Client-Cert',
  'X-Forwarded-Tls-Client-Cert-Info',
  'X-SSL-Client-Cert',
  'X-SSL-Client-S-DN',
  'X-SSL-Client-I-DN',
  'X-SSL-Client-Verify',
  // forwarding
  'Forwarded',
  'X-Forwarded-For',
  'X-Forwarded-Proto',
  'X-Forwarded-Host',
  'X-Forwarded-Port',
  'X-Forwarded-Prefix',
  'X-Real-IP',
  'X-Original-URL',
  'X-Rewrite-URL',
  'True-Client-IP',
  'Client-IP',
  'X-Cluster-Client-IP',
  'CF-Connecting-IP',
  'Fastly-Client-IP',
  'X-Forwarded',
  'Forwarded-For',
  'X-ProxyUser-IP',
  'X-Envoy-Internal',
  'X-Envoy-Original-Path',
  'X-Original-Host',
  'X-HTTP-Method-Override',
  'X-HTTP-Method',
  'X-Method-Override',
  // other proxies' client-certificate headers
  'X-SSL-Cert',
  'SSL-Client-Cert',
  'X-ARR-ClientCert',
];

let pki: TestPki;
let gw: TestGateway;
/** Our identity and forwarding headers for partner-a, as a clean request gets them. */
let ours: Map<string, string>;

const guarded = (name: string): boolean => isIdentityHeader(name) || isForwardingHeader(name);

beforeAll(async () => {
  pki = await makeTestPki();
  gw = await startTestGateway(pki, {
    GATEWAY_IDENTITY_HEADERS: 'gateway,xfcc,alb,rfc9440,forwarded',
    GATEWAY_LOG_LEVEL: 'warn',
  });
  const answer = await rawExchange(
    pki,
    'partner-a',
    gw.port,
    'GET /clean HTTP/1.1\r\nHost: localhost\r\nX-Request-Id: clean\r\nConnection: close\r\n\r\n',
  );
  expect(answer).toMatch(/^HTTP\/1\.1 200 /);
  const raw = gw.upstream.seen.find((r) => r.headers['x-request-id'] === 'clean')!.rawHeaders;
  ours = new Map();
  for (let i = 0; i < raw.length; i += 2) if (guarded(raw[i]!)) ours.set(headerKey(raw[i]!), raw[i + 1]!);
  expect(ours.get('x-client-id')).toBe('cn:partner-a');
  expect(ours.get('forwarded')).toBe('for=127.0.0.1;proto=https');
});
afterAll(async () => {
  await gw?.close();
  await pki?.cleanup();
});

function spell(name: string, rnd: () => number): string {
  let out = '';
  for (const ch of name) {
    // `-` kept, or written `_` (CGI/WSGI) or `.` (PHP): all three read as `-` upstream.
    const r = rnd();
    const c = ch === '-' && r < 0.5 ? (r < 0.25 ? '_' : '.') : ch;
    out += rnd() < 0.5 ? c.toLowerCase() : c.toUpperCase();
  }
  return out;
}

const pick = <T>(items: readonly T[], rnd: () => number): T => items[Math.floor(rnd() * items.length)]!;
const SPACE = ['', ' ', '\t', '  ', ' \t '];

/** One fuzzed header block; every spoofed value carries SPOOF so it can be found anywhere. */
function fuzzedHeaders(rnd: () => number, n: number): string[] {
  const lines: string[] = [];
  const count = 1 + Math.floor(rnd() * 8);
  for (let j = 0; j < count; j++) {
    const base = pick(NAMES, rnd);
    const copies = rnd() < 0.3 ? 2 : 1;
    for (let k = 0; k < copies; k++) {
      const name = spell(base, rnd);
      const value = `SPOOF-${n}-${j}-${k}`;
      const r = rnd();
      if (r < 0.05) lines.push(`${name} : ${value}`);
      else if (r < 0.1) lines.push(`${name}: x\r\n${pick([' ', '\t'], rnd)}${value}`);
      else lines.push(`${name}:${pick(SPACE, rnd)}${value}${pick(SPACE, rnd)}`);
    }
  }
  return lines;
}

describe('header-name fuzz', () => {
  it(`seed ${SEED}, ${ITERATIONS} requests: only our values reach the upstream`, {
    timeout: 60_000,
  }, async () => {
    const rnd = mulberry32(SEED);
    const outcomes = { forwarded: 0, refused: 0 };
    for (let n = 0; n < ITERATIONS; n++) {
      const id = `fuzz-${SEED}-${n}`;
      const lines = fuzzedHeaders(rnd, n);
      const answer = await rawExchange(
        pki,
        'partner-a',
        gw.port,
        `GET /fuzz HTTP/1.1\r\nHost: localhost\r\nX-Request-Id: ${id}\r\n${lines.join('\r\n')}\r\nConnection: close\r\n\r\n`,
      );
      const status = answer.slice(9, 12);
      const seen = gw.upstream.seen.find((r) => r.headers['x-request-id'] === id);
      const where = { seed: SEED, n, lines };
      if (status !== '200') {
        expect({ ...where, status, forwarded: seen !== undefined }).toEqual({
          ...where,
          status: '400',
          forwarded: false,
        });
        outcomes.refused++;
        continue;
      }
      outcomes.forwarded++;
      expect(seen, JSON.stringify(where)).toBeDefined();
      const raw = seen!.rawHeaders;
      const got = new Map<string, string[]>();
      for (let i = 0; i < raw.length; i += 2) {
        const name = raw[i]!;
        expect({ ...where, name, value: raw[i + 1] }).not.toMatchObject({
          value: expect.stringContaining('SPOOF'),
        });
        expect({ ...where, name, underscore: /[_.]/.test(name) }).toMatchObject({ underscore: false });
        if (!guarded(name)) continue;
        const key = headerKey(name);
        got.set(key, [...(got.get(key) ?? []), raw[i + 1]!]);
      }
      // Exactly our identity and forwarding headers, each once, with our values.
      expect({ ...where, headers: Object.fromEntries(got) }).toEqual({
        ...where,
        headers: Object.fromEntries([...ours].map(([k, v]) => [k, [v]])),
      });
    }
    // About 6 in 10 blocks carry no fold or space before a colon (those are refused with 400).
    expect(outcomes.forwarded).toBeGreaterThan(ITERATIONS / 3);
    expect(JSON.stringify(gw.upstream.seen)).not.toContain('SPOOF');
  });
});
