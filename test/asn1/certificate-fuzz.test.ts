/**
 * Seeded fuzz of certificate, name and SAN parsing, with Node's X509Certificate (OpenSSL) as the
 * second opinion. Valid certificates are mutated (bytes flipped, lengths and string types changed,
 * truncated, bytes inserted or cut) and certificates are re-built over random, often malformed
 * names. Whenever OpenSSL loads the result (what a client can present), parseCertificate,
 * formatRfc2253 and clientIdentityFromDer must return a result or throw DerError, never anything
 * else; and where both parse, the serial, validity and simple subjects and DNS SANs must agree.
 *
 * CI runs FUZZ_ITERATIONS (default 3,000) cases from a fixed seed; more by hand:
 *   FUZZ_ITERATIONS=200000 FUZZ_SEED=7 npx vitest run test/asn1/certificate-fuzz.test.ts
 */
import { generateKeyPairSync, X509Certificate } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { type ParsedCertificate, parseCertificate } from '../../src/asn1/certificate.js';
import { DerError } from '../../src/asn1/der.js';
import { attributeName, formatRfc2253, parseName } from '../../src/asn1/name.js';
import { clientIdentityFromDer } from '../../src/identity/client-identity.js';
import { atv, craftCertificate, name, OID, oid, rdn, seq, tlv } from '../helpers/der-craft.js';
import { mulberry32 } from '../helpers/prng.js';

const ITERATIONS = Number(process.env.FUZZ_ITERATIONS ?? 3_000);
const SEED = Number(process.env.FUZZ_SEED ?? 0x5eed_13);

const STRING_TAGS = [0x0c, 0x12, 0x13, 0x14, 0x16, 0x1a, 0x1c, 0x1e, 0x03, 0x04, 0x02, 0x30, 0x05];
const TYPES = [
  OID.CN,
  OID.O,
  OID.OU,
  OID.C,
  '2.5.4.5',
  '0.9.2342.19200300.100.1.25',
  '1.2.840.113549.1.9.1',
  '1.2.3.4.5',
];
const keys = generateKeyPairSync('ec', { namedCurve: 'P-256' });

function sanExtension(): Buffer {
  const gn = (tag: number, text: string): Buffer => tlv(tag, Buffer.from(text, 'latin1'));
  const names = seq(
    gn(0x82, 'partner.example.com'),
    gn(0x82, 'b.example.net'),
    gn(0x86, 'spiffe://example.org/partner'),
    gn(0x81, 'ops@example.com'),
    tlv(0x87, Buffer.from([10, 0, 0, 1])),
  );
  return seq(oid('2.5.29.17'), tlv(0x04, names));
}

/** The well-formed starting points: a rich name, SANs, key identifiers, key usage. */
function baseCertificates(): Buffer[] {
  const rich = name(
    rdn([atv(OID.C, 0x13, 'DE')]),
    rdn([atv(OID.O, 0x0c, 'Partner A, Inc.')]),
    rdn([atv(OID.OU, 0x13, 'Payments'), atv(OID.OU, 0x0c, 'Ops')]),
    rdn([atv(OID.CN, 0x1e, Buffer.from([0, 0x70, 0, 0x61, 0x26, 0x3a]))]),
    rdn([atv('1.2.840.113549.1.9.1', 0x16, 'ops@example.com')]),
  );
  const simple = name(rdn([atv(OID.O, 0x0c, 'Partner B')]), rdn([atv(OID.CN, 0x0c, 'partner-b')]));
  const ski = seq(oid('2.5.29.14'), tlv(0x04, tlv(0x04, Buffer.alloc(20, 7))));
  const aki = seq(oid('2.5.29.35'), tlv(0x04, seq(tlv(0x80, Buffer.alloc(20, 9)))));
  const ku = seq(
    oid('2.5.29.15'),
    tlv(0x01, Buffer.from([0xff])),
    tlv(0x04, tlv(0x03, Buffer.from([5, 0xa0]))),
  );
  return [
    craftCertificate({ subject: rich, keys, extensions: [sanExtension(), ski, aki, ku] }).der,
    craftCertificate({
      subject: simple,
      issuer: rich,
      keys,
      serialHex: '00FF00',
      extensions: [sanExtension()],
    }).der,
    craftCertificate({ subject: simple, keys, notAfter: Date.parse('2051-06-01T00:00:00Z') }).der,
  ];
}

/** A random Name: random types, string types and values, sometimes malformed on purpose. */
function randomName(rand: () => number): Buffer {
  const int = (n: number): number => Math.floor(rand() * n);
  const rdns: Buffer[] = [];
  for (let r = 0, n = int(5); r < n; r++) {
    const atvs: Buffer[] = [];
    for (let a = 0, m = int(3); a < m; a++) {
      const value = Buffer.from(
        Array.from({ length: int(12) }, () => (int(4) === 0 ? int(256) : 0x20 + int(95))),
      );
      const tag = STRING_TAGS[int(STRING_TAGS.length)]!;
      const longForm = int(8) === 0 ? 1 : undefined;
      atvs.push(seq(oid(TYPES[int(TYPES.length)]!), tlv(tag, value, longForm)));
    }
    rdns.push(rdn(atvs, int(8) === 0 ? 1 : undefined));
  }
  return int(10) === 0 ? tlv(0x30, rdns, 2) : name(...rdns);
}

function mutate(rand: () => number, bases: readonly Buffer[]): Buffer {
  const int = (n: number): number => Math.floor(rand() * n);
  const base = bases[int(bases.length)]!;
  const b = Buffer.from(base);
  switch (int(7)) {
    case 0: // flip a few bytes
      for (let i = 0, n = 1 + int(4); i < n; i++) b[int(b.length)] = int(256);
      return b;
    case 1: {
      // a length octet made odd: long forms, zero, off by one
      const at = int(b.length);
      b[at] = [0x00, 0x7f, 0x80, 0x81, 0x82, 0x84, 0xff, (b[at]! + 1) & 0xff, (b[at]! - 1) & 0xff][int(9)]!;
      return b;
    }
    case 2: {
      // a string type swapped for another (or for a non-string type)
      const spots = [...b.keys()].filter((i) => STRING_TAGS.slice(0, 8).includes(b[i]!));
      if (spots.length > 0) b[spots[int(spots.length)]!] = STRING_TAGS[int(STRING_TAGS.length)]!;
      return b;
    }
    case 3: // truncated
      return b.subarray(0, int(b.length));
    case 4: {
      // bytes inserted
      const at = int(b.length);
      const extra = Buffer.from(Array.from({ length: 1 + int(4) }, () => int(256)));
      return Buffer.concat([b.subarray(0, at), extra, b.subarray(at)]);
    }
    case 5: {
      // bytes cut out
      const at = int(b.length);
      return Buffer.concat([b.subarray(0, at), b.subarray(at + 1 + int(4))]);
    }
    default: // a whole certificate over a random (often malformed) name
      return craftCertificate({
        subject: randomName(rand),
        ...(int(2) === 0 ? { issuer: randomName(rand) } : {}),
        keys,
        extensions: int(2) === 0 ? [sanExtension()] : [],
      }).der;
  }
}

/** The subject as Node prints it (`X509Certificate.subject`), when our decoding is that simple. */
function simpleSubject(parsed: ParsedCertificate): string | undefined {
  const attrs = parseName(parsed.subjectDer);
  const rdns = new Set(attrs.map((a) => a.rdn));
  if (rdns.size !== attrs.length) return undefined; // multi-valued RDNs print differently
  const parts: string[] = [];
  for (const a of attrs) {
    if (
      a.value === undefined ||
      !/^[A-Za-z0-9]([A-Za-z0-9 .@-]*[A-Za-z0-9.@-])?$/.test(a.value) ||
      attributeName(a.oid) === a.oid
    )
      return undefined;
    parts.push(`${attributeName(a.oid)}=${a.value}`);
  }
  return parts.join('\n');
}

const simpleDns = (dns: readonly string[]): boolean => dns.every((d) => /^[a-z0-9.-]+$/.test(d));

describe('certificate, name and SAN parsing against OpenSSL', () => {
  it(`never throws anything but DerError on ${ITERATIONS} seeded certificates OpenSSL loads`, () => {
    const rand = mulberry32(SEED);
    const bases = baseCertificates();
    const counts = {
      loaded: 0,
      refusedByUs: 0,
      parsed: 0,
      subjectsCompared: 0,
      sansCompared: 0,
      sanNodeUnprintable: 0,
    };
    for (let i = 0; i < ITERATIONS; i++) {
      const der = mutate(rand, bases);
      let x509: X509Certificate;
      try {
        x509 = new X509Certificate(der);
      } catch {
        continue; // OpenSSL refuses it: no client can present it
      }
      counts.loaded++;
      const where = `case ${i} (seed ${SEED}): ${der.toString('hex')}`;
      let parsed: ParsedCertificate;
      try {
        parsed = parseCertificate(der);
      } catch (err) {
        if (!(err instanceof DerError)) throw new Error(`${where}: ${String(err)}`);
        counts.refusedByUs++;
        continue;
      }
      counts.parsed++;
      // A parsed certificate's names and identity never fail (the gate formats them unguarded).
      let subject: string;
      try {
        subject = formatRfc2253(parsed.subjectDer);
        formatRfc2253(parsed.issuerDer);
        const identity = clientIdentityFromDer(der, [], parsed);
        expect(identity.subject, where).toBe(subject);
        expect(identity.subject, where).toMatch(/^[\x20-\x7e]*$/);
      } catch (err) {
        throw new Error(`${where}: ${String(err)}`);
      }
      if (!x509.serialNumber.startsWith('-')) {
        expect(parsed.serialHex.replace(/^0+(?=.)/, ''), where).toBe(
          x509.serialNumber.replace(/^0+(?=.)/, ''),
        );
      }
      expect(parsed.notBefore, where).toBe(Date.parse(x509.validFrom));
      expect(parsed.notAfter, where).toBe(Date.parse(x509.validTo));
      const simple = simpleSubject(parsed);
      if (simple !== undefined && simple !== '') {
        expect(x509.subject, where).toBe(simple);
        counts.subjectsCompared++;
      }
      // Node 24.22 throws "Failed to format subject alternative name" for a SAN its printer
      // cannot render (24.21 printed something): then there is no second opinion to compare with.
      let altNames: string | undefined;
      try {
        altNames = x509.subjectAltName;
      } catch {
        counts.sanNodeUnprintable++;
      }
      if (altNames && simpleDns(parsed.san.dns)) {
        const nodeDns = altNames
          .split(', ')
          .filter((e) => e.startsWith('DNS:'))
          .map((e) => e.slice(4));
        if (nodeDns.every((d) => /^[a-z0-9.-]+$/.test(d))) {
          expect(parsed.san.dns, where).toEqual(nodeDns);
          counts.sansCompared++;
        }
      }
    }
    if (process.env.FUZZ_VERBOSE) console.log(counts);
    // The run reached the interesting region: loadable but not DER, and fields compared.
    expect(counts.loaded).toBeGreaterThan(ITERATIONS / 10);
    expect(counts.refusedByUs).toBeGreaterThan(ITERATIONS / 100);
    expect(counts.subjectsCompared).toBeGreaterThan(ITERATIONS / 100);
    expect(counts.sansCompared).toBeGreaterThan(ITERATIONS / 100);
  });
});
