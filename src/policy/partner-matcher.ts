/**
 * Which declared partner a verified certificate belongs to. Matchers are compiled once per policy
 * and evaluated once per connection; the first partner (in file order) whose any alternative
 * matches wins, and the result names the rule (`partners[1].match[0]`) so logs and whoami can say
 * why. Pure: no I/O.
 */
import { createHash } from 'node:crypto';
import { canonicalNameKey, canonicalTextNameKey } from '../asn1/canonical-name.js';
import { attributeName } from '../asn1/name.js';
import type { ClientIdentity } from '../identity/index.js';
import type { PartnerMatchSpec, PartnerSpec } from './document.js';
import { compileUriPattern } from './uri-pattern.js';

export type PartnerMatch =
  | { readonly declared: true; readonly id: string; readonly rule: string }
  | { readonly declared: false; readonly id: string };

type Check = (identity: ClientIdentity, spki: () => string) => boolean;

/** Lower-case hex without separators; throws when it is not 32 bytes of hex. */
export function normaliseFingerprint(text: string): string {
  const hex = text.replace(/:/g, '').toLowerCase();
  if (!/^[0-9a-f]{64}$/.test(hex)) throw new Error(`'${text}' is not a SHA-256 fingerprint (64 hex digits)`);
  return hex;
}

/** Canonical base64 of a 32-byte pin; throws when it is not one. */
export function normaliseSpkiPin(text: string): string {
  const bytes = Buffer.from(text, 'base64');
  if (bytes.length !== 32 || !/^[A-Za-z0-9+/]{43}=$/.test(text)) {
    throw new Error(`'${text}' is not a base64 SHA-256 SPKI pin (44 characters ending in '=')`);
  }
  return bytes.toString('base64');
}

/** `*.example.com` covers exactly one leftmost label; everything else is exact. Case-insensitive. */
export function dnsNameMatches(pattern: string, name: string): boolean {
  const p = pattern.toLowerCase();
  const n = name.toLowerCase();
  if (!p.startsWith('*.')) return p === n;
  const dot = n.indexOf('.');
  return dot > 0 && n.slice(dot) === p.slice(1);
}

export function spkiPinOf(identity: ClientIdentity): string {
  return createHash('sha256').update(identity.parsed.subjectPublicKeyInfoDer).digest('base64');
}

function anyOf<T>(values: readonly T[], test: (v: T) => boolean): boolean {
  for (const v of values) if (test(v)) return true;
  return false;
}

function compileAlternative(spec: PartnerMatchSpec): Check {
  const checks: Check[] = [];
  if (spec.commonName) {
    const set = new Set(spec.commonName);
    checks.push((id) => id.commonName !== undefined && set.has(id.commonName));
  }
  if (spec.organization) {
    const set = new Set(spec.organization);
    checks.push((id) => anyOf(id.organization, (o) => set.has(o)));
  }
  if (spec.organizationalUnit) {
    const set = new Set(spec.organizationalUnit);
    checks.push((id) => anyOf(id.organizationalUnit, (o) => set.has(o)));
  }
  if (spec.sanDns) {
    const patterns = spec.sanDns;
    checks.push((id) => anyOf(id.sanDns, (n) => anyOf(patterns, (p) => dnsNameMatches(p, n))));
  }
  if (spec.sanUri) {
    const patterns = spec.sanUri.map(compileUriPattern);
    checks.push((id) => anyOf(id.sanUri, (u) => anyOf(patterns, (p) => p.matches(u))));
  }
  if (spec.sanEmail) {
    const set = new Set(spec.sanEmail.map((e) => e.toLowerCase()));
    checks.push((id) => anyOf(id.sanEmail, (e) => set.has(e.toLowerCase())));
  }
  if (spec.issuer) {
    // Compared canonically (RFC 5280 §7.1, as OpenSSL compares names): case, whitespace runs and
    // string types do not count, RDN attribute order inside a '+' set does not either.
    const exact = new Set(spec.issuer);
    const canonical = new Set(spec.issuer.map((t) => canonicalTextNameKey(t)).filter((k) => k !== undefined));
    checks.push((id) => exact.has(id.issuer) || canonical.has(issuerTextKey(id)));
  }
  if (spec.fingerprintSha256) {
    const set = new Set(spec.fingerprintSha256.map(normaliseFingerprint));
    checks.push((id) => set.has(id.fingerprint256));
  }
  if (spec.spkiSha256) {
    const set = new Set(spec.spkiSha256.map(normaliseSpkiPin));
    checks.push((_id, spki) => set.has(spki()));
  }
  // An alternative with no field would match everyone; the file validator refuses it, and so do we.
  if (checks.length === 0) return () => false;
  return (identity, spki) => checks.every((c) => c(identity, spki));
}

/** The leaf's issuer keyed as canonicalTextNameKey keys configured RFC 2253 text. */
function issuerTextKey(identity: ClientIdentity): string {
  return canonicalNameKey(identity.parsed.issuerDer, {
    typeName: (oid) => attributeName(oid).toUpperCase(),
    numericAsText: true,
  });
}

export class PartnerMatcher {
  private readonly partners: readonly { id: string; alternatives: readonly Check[] }[];

  constructor(specs: readonly PartnerSpec[]) {
    this.partners = specs.map((p) => ({ id: p.id, alternatives: p.match.map(compileAlternative) }));
  }

  /** The first declared partner this certificate satisfies, or undefined. */
  match(identity: ClientIdentity): { id: string; rule: string } | undefined {
    let pin: string | undefined;
    const spki = (): string => {
      pin ??= spkiPinOf(identity);
      return pin;
    };
    for (let i = 0; i < this.partners.length; i++) {
      const p = this.partners[i]!;
      for (let j = 0; j < p.alternatives.length; j++) {
        if (p.alternatives[j]!(identity, spki)) return { id: p.id, rule: `partners[${i}].match[${j}]` };
      }
    }
    return undefined;
  }
}
