/**
 * The one DER rule of src/asn1/der.ts, shared by certificates, names and CRLs: times are read
 * strictly (RFC 5280 §4.1.2.5, never normalised the way Date.UTC would) and lengths must be
 * definite and minimal. Expected instants come from `new Date(ISO string)`.
 */
import { describe, expect, it } from 'vitest';
import { DerError, decodeTime, lenientTimeAt, readTlv, Tag } from '../../src/asn1/der.js';
import { parseCrl } from '../../src/trust/crl/parse-crl.js';

function timeElement(tag: number, text: string): { buf: Uint8Array; tlv: ReturnType<typeof readTlv> } {
  const buf = Buffer.concat([Buffer.from([tag, text.length]), Buffer.from(text, 'latin1')]);
  return { buf, tlv: readTlv(buf, 0, buf.length) };
}

const decode = (tag: number, text: string): number => {
  const { buf, tlv } = timeElement(tag, text);
  return decodeTime(buf, tlv);
};

describe('lenientTimeAt (CRL entry revocation dates only)', () => {
  const lenient = (tag: number, text: string): number => {
    const { buf, tlv } = timeElement(tag, text);
    return lenientTimeAt(buf, tlv.tag, tlv.contentStart, tlv.end);
  };
  it.each([
    [Tag.UTC_TIME, '2401020304Z', '2024-01-02T03:04:00Z'],
    [Tag.GENERALIZED_TIME, '202401020304Z', '2024-01-02T03:04:00Z'],
    [Tag.UTC_TIME, '240102030405Z', '2024-01-02T03:04:05Z'],
    // Forms `openssl ca` writes and OpenSSL loads: a zone offset, no zone, fractions.
    [Tag.GENERALIZED_TIME, '20240102030405+0100', '2024-01-02T02:04:05Z'],
    [Tag.UTC_TIME, '2401020304-0230', '2024-01-02T05:34:00Z'],
    [Tag.UTC_TIME, '2401020304', '2024-01-02T03:04:00Z'],
    [Tag.GENERALIZED_TIME, '20240102030405.123Z', '2024-01-02T03:04:05Z'],
  ])('reads tag %i: %s as %s', (tag, text, iso) => {
    expect(lenient(tag, text)).toBe(new Date(iso).getTime());
  });
  // Nothing decides on a revocation date: an unreadable one is 0 ("unknown"), never a reason to
  // drop the whole CRL (that would leave its CA without one).
  it.each([
    [Tag.UTC_TIME, '2413020304Z', 'month 13 without seconds'],
    [Tag.UTC_TIME, '24010203Z', 'no minutes'],
    [Tag.GENERALIZED_TIME, 'yesterday', 'not a time'],
  ])('reads tag %i: %s (%s) as unknown (0), without throwing', (tag, text, _why) => {
    expect(lenient(tag, text)).toBe(0);
  });
});

describe('decodeTime', () => {
  it.each([
    [Tag.UTC_TIME, '241231235959Z', '2024-12-31T23:59:59Z'],
    [Tag.UTC_TIME, '500101000000Z', '1950-01-01T00:00:00Z'],
    [Tag.UTC_TIME, '491231235959Z', '2049-12-31T23:59:59Z'],
    [Tag.UTC_TIME, '240229120000Z', '2024-02-29T12:00:00Z'],
    [Tag.GENERALIZED_TIME, '20000229000000Z', '2000-02-29T00:00:00Z'],
    [Tag.GENERALIZED_TIME, '20500101000000Z', '2050-01-01T00:00:00Z'],
    [Tag.GENERALIZED_TIME, '99991231235959Z', '9999-12-31T23:59:59Z'],
    [Tag.GENERALIZED_TIME, '19700101000000Z', '1970-01-01T00:00:00Z'],
    [Tag.GENERALIZED_TIME, '16000301000000Z', '1600-03-01T00:00:00Z'],
  ])('reads tag %i: %s as %s', (tag, text, iso) => {
    expect(decode(tag, text)).toBe(new Date(iso).getTime());
  });

  it.each([
    [Tag.GENERALIZED_TIME, '20241331250000Z', 'month 13, hour 25 (Date.UTC makes it 2025-02-01)'],
    [Tag.GENERALIZED_TIME, '20240230000000Z', 'February 30th'],
    [Tag.GENERALIZED_TIME, '20230229000000Z', 'February 29th of a common year'],
    [Tag.GENERALIZED_TIME, '21000229000000Z', 'February 29th of 2100 (not a leap year)'],
    [Tag.GENERALIZED_TIME, '20240431000000Z', 'April 31st'],
    [Tag.UTC_TIME, '241301000000Z', 'month 13'],
    [Tag.UTC_TIME, '240001000000Z', 'month 0'],
    [Tag.UTC_TIME, '240100000000Z', 'day 0'],
    [Tag.UTC_TIME, '240101240000Z', 'hour 24'],
    [Tag.UTC_TIME, '240101006000Z', 'minute 60'],
    [Tag.UTC_TIME, '240101000060Z', 'second 60 (leap seconds are not in the profile)'],
    [Tag.UTC_TIME, '2401010000Z', 'no seconds'],
    [Tag.UTC_TIME, '240101000000', 'no Z'],
    [Tag.UTC_TIME, '2401010000000', 'a digit where Z belongs'],
    [Tag.UTC_TIME, '240101000000+0000', 'an offset instead of Z'],
    [Tag.UTC_TIME, '20240101000000Z', 'a four-digit year in a UTCTime'],
    [Tag.GENERALIZED_TIME, '240101000000Z', 'a two-digit year in a GeneralizedTime'],
    [Tag.GENERALIZED_TIME, '20240101000000.5Z', 'fractional seconds'],
    [Tag.GENERALIZED_TIME, '2024010100000Z', 'a short GeneralizedTime'],
    [Tag.UTC_TIME, ' 40101000000Z', 'a space for a digit'],
    [Tag.UTC_TIME, '24-101000000Z', 'a sign for a digit'],
    [Tag.UTC_TIME, '24010100000z', 'a lower-case z'],
    [Tag.UTF8_STRING, '240101000000Z', 'not a time type'],
  ])('refuses tag %i: %s (%s)', (tag, text, _why) => {
    expect(() => decode(tag, text)).toThrow(DerError);
  });
});

describe('readTlv lengths', () => {
  it.each([
    ['30 80 00 00', 'indefinite length'],
    ['30 81 05 00 00 00 00 00', 'long form for a short length'],
    [`30 82 00 81 ${'00 '.repeat(0x81)}`, 'a leading zero length octet'],
    ['30 85 00 00 00 00 01 00', 'five length octets'],
    ['30 05 00 00', 'content past the end'],
    ['30', 'no length'],
    ['1f 01 00', 'a high tag number'],
    ['', 'no element'],
  ])('refuses %s (%s)', (hex) => {
    const buf = Buffer.from(hex.replaceAll(' ', ''), 'hex');
    expect(() => readTlv(buf, 0, buf.length)).toThrow(DerError);
  });

  it('reads minimal long-form lengths', () => {
    const buf = Buffer.concat([Buffer.from([0x04, 0x81, 0x80]), Buffer.alloc(0x80)]);
    expect(readTlv(buf, 0, buf.length)).toEqual({ tag: 4, start: 0, contentStart: 3, end: 0x83 });
  });
});

describe('the CRL parser uses the same rule', () => {
  /** A v1 CRL (unsigned: the parser reads, verify-crl.ts verifies) with `thisUpdate` as given. */
  function crlWithThisUpdate(text: string): Buffer {
    const t = (tag: number, body: Buffer): Buffer => Buffer.concat([Buffer.from([tag, body.length]), body]);
    const alg = t(0x30, Buffer.from('06082a8648ce3d040302', 'hex'));
    const issuer = t(
      0x30,
      t(0x31, t(0x30, Buffer.concat([Buffer.from('0603550403', 'hex'), t(0x0c, Buffer.from('CA'))]))),
    );
    const tbs = t(0x30, Buffer.concat([alg, issuer, t(Tag.GENERALIZED_TIME, Buffer.from(text, 'latin1'))]));
    return t(0x30, Buffer.concat([tbs, alg, t(0x03, Buffer.from([0, 1, 2]))]));
  }

  it('accepts a valid thisUpdate and refuses 2024-13-31T25:00:00 as CRL_MALFORMED', () => {
    expect(parseCrl(crlWithThisUpdate('20240229000000Z')).thisUpdate).toBe(
      Date.parse('2024-02-29T00:00:00Z'),
    );
    expect(() => parseCrl(crlWithThisUpdate('20241331250000Z'))).toThrow(
      expect.objectContaining({ code: 'CRL_MALFORMED' }),
    );
    expect(() => parseCrl(crlWithThisUpdate('20230229000000Z'))).toThrow(
      expect.objectContaining({ code: 'CRL_MALFORMED' }),
    );
  });
});
