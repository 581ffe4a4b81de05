/**
 * The pure matchers of the policy room at their edges: SAN URI patterns (uri-pattern.ts), DNS
 * wildcards and the fingerprint and SPKI pin forms a policy file may use (partner-matcher.ts).
 * test/policy/policy.test.ts checks them through Policy against real certificates.
 */
import { describe, expect, it } from 'vitest';
import { issue } from '../../src/dev/pki.js';
import { clientIdentityFromDer } from '../../src/identity/index.js';
import {
  dnsNameMatches,
  normaliseFingerprint,
  normaliseSpkiPin,
  PartnerMatcher,
} from '../../src/policy/partner-matcher.js';
import { compileUriPattern } from '../../src/policy/uri-pattern.js';

describe('compileUriPattern edges', () => {
  it.each([
    ['spiffe://example.com', 'spiffe://example.com', true],
    ['spiffe://example.com', 'spiffe://example.com/', false],
    ['spiffe://x/**', 'spiffe://x.evil/a', false],
    ['spiffe://x/**', 'spiffe://x/a//b', false],
    ['spiffe://x/**', 'spiffe://x/a/', false],
    ['spiffe://x/**', 'spiffe://x//a', false],
    ['spiffe://x/**/z', 'spiffe://x/a//z', false],
    ['spiffe://x/*/api', 'spiffe://x/a/xyz', false],
    ['spiffe://x/a/*', 'spiffe://x/b/c', false],
    ['spiffe://x/a/*', 'spiffe://x/a', false],
    ['spiffe://x/*/*', 'spiffe://x/a/b', true],
  ])('%s vs %s → %s', (pattern, uri, expected) => {
    expect(compileUriPattern(pattern).matches(uri)).toBe(expected);
  });

  it('refuses text that only contains a URI pattern', () => {
    for (const bad of ['1spiffe://x/*', ' spiffe://x/*', 'spiffe://x/a\n/*', 'spiffe:/x/*'])
      expect(() => compileUriPattern(bad), JSON.stringify(bad)).toThrow(/scheme:\/\/authority\/path/);
    expect(compileUriPattern('spiffe://x').source).toBe('spiffe://x');
  });
});

describe('dnsNameMatches', () => {
  it.each([
    ['api.example.com', 'API.Example.com', true],
    ['api.example.com', 'x.api.example.com', false],
    ['*.example.com', 'api.example.com', true],
    ['*.example.com', 'a.b.example.com', false],
    ['*.example.com', 'example.com', false],
    ['*.example.com', '.example.com', false],
    ['*.example.com', 'api.example.org', false],
    ['*x.example.com', 'ax.example.com', false],
  ])('%s vs %s → %s', (pattern, name, expected) => {
    expect(dnsNameMatches(pattern, name)).toBe(expected);
  });
});

describe('fingerprint and pin forms', () => {
  const hex = 'ab'.repeat(32);
  const pin = Buffer.alloc(32, 7).toString('base64');

  it('normalises a fingerprint with colons, in any case, and refuses anything but 32 bytes of hex', () => {
    expect(normaliseFingerprint(hex.toUpperCase().match(/../g)!.join(':'))).toBe(hex);
    for (const bad of [hex.slice(2), `${hex}00`, `x${hex}`, `${hex}x`, `${hex.slice(1)}g`, ''])
      expect(() => normaliseFingerprint(bad), bad).toThrow(/is not a SHA-256 fingerprint/);
  });

  it('keeps a canonical 32-byte base64 pin and refuses other lengths, alphabets and forms', () => {
    expect(normaliseSpkiPin(pin)).toBe(pin);
    for (const bad of [
      Buffer.alloc(31, 7).toString('base64'),
      Buffer.alloc(33, 7).toString('base64'),
      pin.slice(0, -1),
      `x${pin}`,
      `!${pin}`,
      `${pin}=`,
      pin.replace('=', ''),
      Buffer.alloc(32, 0xfb).toString('base64url'),
    ])
      expect(() => normaliseSpkiPin(bad), bad).toThrow(/is not a base64 SHA-256 SPKI pin/);
  });
});

describe('PartnerMatcher fails closed', () => {
  it('matches nobody with an alternative that names no field (the file validator refuses one too)', async () => {
    const ca = await issue(undefined, { subject: 'CN=test CA', ca: true });
    const leaf = await issue(ca, { subject: 'CN=anyone' });
    const identity = clientIdentityFromDer(Buffer.from(leaf.cert.rawData), []);
    expect(new PartnerMatcher([{ id: 'everyone', match: [{}] }]).match(identity)).toBeUndefined();
    expect(
      new PartnerMatcher([{ id: 'anyone', match: [{ commonName: ['anyone'] }] }]).match(identity),
    ).toEqual({
      id: 'anyone',
      rule: 'partners[0].match[0]',
    });
  });
});
