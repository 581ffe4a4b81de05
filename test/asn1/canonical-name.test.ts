/**
 * Canonical name keys (RFC 5280 §7.1 as OpenSSL's x509_name_canon): which names are equal, which
 * are not, and that malformed names never throw and equal only themselves.
 */
import { describe, expect, it } from 'vitest';
import { canonicalNameKey, canonicalTextNameKey, sameName } from '../../src/asn1/canonical-name.js';
import { attributeName } from '../../src/asn1/name.js';
import { oid, seq, set, tlv } from '../trust/crl-builder.js';

const CN = '2.5.4.3';
const O = '2.5.4.10';
const atv = (type: string, tag: number, value: Uint8Array | string): Uint8Array =>
  seq(oid(type), tlv(tag, typeof value === 'string' ? Buffer.from(value, 'latin1') : value));
const nameOf = (...rdns: Uint8Array[][]): Uint8Array => seq(...rdns.map((r) => set(...r)));
const UTF8 = 0x0c;
const PRINTABLE = 0x13;
const NUMERIC = 0x12;
const BMP = 0x1e;
const byText = { typeName: (o: string) => attributeName(o).toUpperCase(), numericAsText: true };

describe('canonicalNameKey', () => {
  it('ignores string type, ASCII case and whitespace runs, and attribute order inside an RDN', () => {
    const utf8 = nameOf([atv(O, UTF8, 'Acme')], [atv(CN, UTF8, 'Issuing CA')]);
    expect(sameName(utf8, nameOf([atv(O, PRINTABLE, 'Acme')], [atv(CN, PRINTABLE, 'Issuing CA')]))).toBe(
      true,
    );
    expect(sameName(utf8, nameOf([atv(O, UTF8, ' ACME ')], [atv(CN, UTF8, 'issuing \t  ca')]))).toBe(true);
    const bmp = Buffer.from('Issuing CA', 'utf16le').swap16();
    expect(sameName(utf8, nameOf([atv(O, UTF8, 'Acme')], [atv(CN, BMP, bmp)]))).toBe(true);
    const multi = nameOf([atv(O, UTF8, 'Acme'), atv(CN, UTF8, 'x')]);
    expect(sameName(multi, nameOf([atv(CN, PRINTABLE, 'X'), atv(O, UTF8, 'acme')]))).toBe(true);
  });

  it('keeps apart what OpenSSL keeps apart', () => {
    const a = nameOf([atv(CN, UTF8, 'Issuing CA')]);
    expect(sameName(a, nameOf([atv(CN, UTF8, 'Issuing CA 2')]))).toBe(false);
    expect(sameName(a, nameOf([atv(O, UTF8, 'Issuing CA')]))).toBe(false);
    // RDN order counts; so does splitting one RDN into two.
    const two = nameOf([atv(O, UTF8, 'Acme')], [atv(CN, UTF8, 'x')]);
    expect(sameName(two, nameOf([atv(CN, UTF8, 'x')], [atv(O, UTF8, 'Acme')]))).toBe(false);
    expect(sameName(two, nameOf([atv(O, UTF8, 'Acme'), atv(CN, UTF8, 'x')]))).toBe(false);
    // A leading U+FEFF is part of the value, not a byte-order mark.
    const bom = Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from('Issuing CA')]);
    expect(sameName(a, nameOf([atv(CN, UTF8, bom)]))).toBe(false);
    // NumericString is not canonicalized by OpenSSL; non-ASCII case is not folded.
    expect(sameName(nameOf([atv(CN, NUMERIC, '123')]), nameOf([atv(CN, PRINTABLE, '123')]))).toBe(false);
    expect(
      sameName(nameOf([atv(CN, UTF8, Buffer.from('É'))]), nameOf([atv(CN, UTF8, Buffer.from('é'))])),
    ).toBe(false);
  });

  it('never throws: a malformed name equals only itself', () => {
    const oddBmp = nameOf([atv(CN, BMP, Buffer.from([0x00, 0x41, 0x00]))]);
    const badUtf8 = nameOf([atv(CN, UTF8, Buffer.from([0xc3]))]);
    const truncated = Buffer.from([0x30, 0x05, 0x31, 0x03]);
    for (const der of [oddBmp, badUtf8, truncated, new Uint8Array(0)]) {
      expect(canonicalNameKey(der)).toMatch(/^raw:/);
      expect(sameName(der, der)).toBe(true);
    }
    expect(sameName(oddBmp, nameOf([atv(CN, BMP, Buffer.from([0x00, 0x41]))]))).toBe(false);
  });
});

describe('canonicalTextNameKey (policy issuer, bundle diff)', () => {
  it('matches RFC 2253 text to the DER name, canonically', () => {
    const der = nameOf([atv(O, PRINTABLE, 'Acme')], [atv(CN, UTF8, 'Issuing CA')]);
    const key = canonicalNameKey(der, byText);
    expect(canonicalTextNameKey('CN=Issuing CA,O=Acme')).toBe(key);
    expect(canonicalTextNameKey('CN=issuing  ca,O=ACME')).toBe(key);
    expect(canonicalTextNameKey('cn=Issuing CA,o=Acme')).toBe(key);
    expect(canonicalTextNameKey('CN=#0C0A49737375696E67204341,O=Acme')).toBe(key);
    expect(canonicalTextNameKey('CN=Other CA,O=Acme')).not.toBe(key);
    expect(canonicalTextNameKey('O=Acme,CN=Issuing CA')).not.toBe(key);
    expect(canonicalTextNameKey('CN=a\\,b')).toBe(canonicalNameKey(nameOf([atv(CN, UTF8, 'a,b')]), byText));
    expect(canonicalTextNameKey('CN=caf\\C3\\A9')).toBe(
      canonicalNameKey(nameOf([atv(CN, UTF8, Buffer.from('café'))]), byText),
    );
    expect(canonicalTextNameKey('no equals sign')).toBeUndefined();
  });
});
