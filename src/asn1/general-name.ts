/**
 * GeneralName (RFC 5280 §4.2.1.6) comparison keys, for matching CRL distribution points.
 *
 * Security property: two GeneralNames get the same key exactly when OpenSSL's GENERAL_NAME_cmp
 * calls them equal for the forms we meet in distribution points: a URI compares byte for byte, a
 * directoryName canonically (RFC 5280 §7.1, as X509_NAME_cmp does), any other form by its type
 * and raw bytes. Pure and total on the element it is given.
 */
import { canonicalNameKey } from './canonical-name.js';
import { DerReader, Tag, type Tlv, whole } from './der.js';

/** GeneralName tags we name (context-specific). */
export const GeneralNameTag = {
  URI: 0x86,
  DIRECTORY_NAME: 0xa4,
} as const;

/** The comparison key of one GeneralName element of `buf`. */
export function generalNameKey(buf: Uint8Array, gn: Tlv): string {
  if (gn.tag === GeneralNameTag.URI) {
    return `uri:${Buffer.from(buf.buffer, buf.byteOffset + gn.contentStart, gn.end - gn.contentStart).toString('latin1')}`;
  }
  if (gn.tag === GeneralNameTag.DIRECTORY_NAME) {
    // [4] EXPLICIT Name: exactly one SEQUENCE inside.
    try {
      const r = new DerReader(buf, gn.contentStart, gn.end);
      const nameTlv = r.expect(Tag.SEQUENCE, 'directoryName');
      r.finish('directoryName');
      return `dn:${canonicalNameKey(whole(buf, nameTlv))}`;
    } catch {
      // unreadable: equal only to itself, below
    }
  }
  return `gn:${Buffer.from(whole(buf, gn)).toString('hex')}`;
}

/** The key of a DER Name as a directoryName GeneralName would have it. */
export function directoryNameKey(nameDer: Uint8Array): string {
  return `dn:${canonicalNameKey(nameDer)}`;
}
