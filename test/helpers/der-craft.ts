/**
 * Test helper: certificates built byte by byte, for the malformed-but-loadable DER an attacker
 * can present (non-minimal lengths, empty RDNs, odd string types, huge or deeply nested names).
 * The TBSCertificate is assembled here and signed with node:crypto, so OpenSSL verifies the
 * signature over exactly these bytes. Not a test; nothing here is committed key material.
 */
import { createPrivateKey, generateKeyPairSync, type KeyObject, sign } from 'node:crypto';

/** A DER length; `longForm` forces the long form with that many octets (non-minimal when short). */
export function lengthBytes(n: number, longForm?: number): Buffer {
  if (longForm === undefined && n < 0x80) return Buffer.from([n]);
  const octets: number[] = [];
  for (let v = n; v > 0; v = Math.floor(v / 256)) octets.unshift(v & 0xff);
  while (longForm !== undefined && octets.length < longForm) octets.unshift(0);
  return Buffer.from([0x80 | octets.length, ...octets]);
}

export function tlv(tag: number, content: Uint8Array | readonly Uint8Array[], longForm?: number): Buffer {
  const body = content instanceof Uint8Array ? Buffer.from(content) : Buffer.concat([...content]);
  return Buffer.concat([Buffer.from([tag]), lengthBytes(body.length, longForm), body]);
}

export const seq = (...parts: Uint8Array[]): Buffer => tlv(0x30, parts);

export function oid(dotted: string): Buffer {
  const arcs = dotted.split('.').map(Number);
  const out: number[] = [];
  const push = (v: number): void => {
    const bytes = [v & 0x7f];
    for (let x = Math.floor(v / 128); x > 0; x = Math.floor(x / 128)) bytes.unshift(0x80 | (x & 0x7f));
    out.push(...bytes);
  };
  push(arcs[0]! * 40 + arcs[1]!);
  for (const a of arcs.slice(2)) push(a);
  return tlv(0x06, Buffer.from(out));
}

export const OID = {
  CN: '2.5.4.3',
  O: '2.5.4.10',
  OU: '2.5.4.11',
  C: '2.5.4.6',
  ecdsaWithSha256: '1.2.840.10045.4.3.2',
} as const;

/** One AttributeTypeAndValue with a value of string type `tag` (0x0c UTF8, 0x13 Printable, 0x1e BMP…). */
export function atv(type: string, tag: number, value: Uint8Array | string): Buffer {
  const bytes = typeof value === 'string' ? Buffer.from(value, 'utf8') : Buffer.from(value);
  return seq(oid(type), tlv(tag, bytes));
}

/** A RelativeDistinguishedName (SET); `longForm` gives it a non-minimal length. */
export const rdn = (atvs: readonly Uint8Array[], longForm?: number): Buffer => tlv(0x31, atvs, longForm);

/** A Name (SEQUENCE OF RDN). */
export const name = (...rdns: Uint8Array[]): Buffer => seq(...rdns);

/** CN=<text> as one RDN of UTF8String. */
export const cnRdn = (text: string): Buffer => rdn([atv(OID.CN, 0x0c, text)]);

function utcTime(ms: number): Buffer {
  const iso = new Date(ms).toISOString();
  const text = `${iso.slice(2, 4)}${iso.slice(5, 7)}${iso.slice(8, 10)}${iso.slice(11, 13)}${iso.slice(14, 16)}${iso.slice(17, 19)}Z`;
  return tlv(0x17, Buffer.from(text, 'latin1'));
}

export interface CraftOptions {
  /** The subject Name element, exactly as it goes on the wire. */
  readonly subject: Uint8Array;
  /** The issuer Name element; the subject (self-signed) by default. */
  readonly issuer?: Uint8Array;
  /** The subject's key pair; a fresh P-256 one by default. */
  readonly keys?: { publicKey: KeyObject; privateKey: KeyObject };
  /** The issuer's private key (P-256); the subject's own (self-signed) by default. */
  readonly signingKey?: KeyObject;
  /** Serial content bytes (hex); default 01 23 45 67 89. */
  readonly serialHex?: string;
  readonly notBefore?: number;
  readonly notAfter?: number;
  /**
   * Extra extensions (each a whole Extension SEQUENCE); basicConstraints and EKU clientAuth are
   * always added (for `ca`: basicConstraints CA:TRUE and keyUsage keyCertSign, cRLSign instead).
   */
  readonly extensions?: readonly Uint8Array[];
  /** A CA certificate rather than a client certificate. */
  readonly ca?: boolean;
}

export interface Crafted {
  readonly der: Buffer;
  readonly pem: string;
  readonly keyPem: string;
}

export function pemOf(der: Uint8Array, label = 'CERTIFICATE'): string {
  const b64 = Buffer.from(der).toString('base64');
  const lines = b64.match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${label}-----\n${lines.join('\n')}\n-----END ${label}-----\n`;
}

/** An X.509 v3 client certificate over exactly the given name bytes, signed ecdsa-with-SHA256. */
export function craftCertificate(opts: CraftOptions): Crafted {
  const keys = opts.keys ?? generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const now = Date.now();
  const sigAlg = seq(oid(OID.ecdsaWithSha256));
  const critical = tlv(0x01, Buffer.from([0xff]));
  const basicConstraints = seq(
    oid('2.5.29.19'),
    critical,
    tlv(0x04, opts.ca ? seq(tlv(0x01, Buffer.from([0xff]))) : seq()),
  );
  // keyCertSign (bit 5) and cRLSign (bit 6): one content octet 0x06, one unused bit.
  const keyUsage = seq(oid('2.5.29.15'), critical, tlv(0x04, tlv(0x03, Buffer.from([0x01, 0x06]))));
  const eku = seq(oid('2.5.29.37'), tlv(0x04, seq(oid('1.3.6.1.5.5.7.3.2'))));
  const exts = [basicConstraints, opts.ca ? keyUsage : eku, ...(opts.extensions ?? [])];
  const tbs = seq(
    tlv(0xa0, tlv(0x02, Buffer.from([2]))),
    tlv(0x02, Buffer.from(opts.serialHex ?? '0123456789', 'hex')),
    sigAlg,
    Buffer.from(opts.issuer ?? opts.subject),
    seq(utcTime(opts.notBefore ?? now - 86_400_000), utcTime(opts.notAfter ?? now + 30 * 86_400_000)),
    Buffer.from(opts.subject),
    keys.publicKey.export({ type: 'spki', format: 'der' }),
    tlv(0xa3, seq(...exts)),
  );
  const signature = sign('sha256', tbs, opts.signingKey ?? keys.privateKey);
  const der = seq(tbs, sigAlg, tlv(0x03, Buffer.concat([Buffer.from([0]), signature])));
  return {
    der,
    pem: pemOf(der),
    keyPem: keys.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
  };
}

/** A private key from PEM (e.g. the test PKI's intermediate key), for `signingKey`. */
export const keyFromPem = (pem: string): KeyObject => createPrivateKey(pem);

/** A value nested `depth` SEQUENCEs deep (each level a whole element: DER, but absurd). */
export function nested(depth: number, inner: Uint8Array = tlv(0x0c, Buffer.from('x'))): Buffer {
  let out: Buffer = Buffer.from(inner);
  for (let i = 0; i < depth; i++) out = tlv(0x30, out);
  return out;
}

/**
 * Subject Names an attacker can present that OpenSSL still loads, by what each gets wrong.
 * `malformed`: not DER (our reader refuses them: the gate must answer bad_certificate);
 * `oversized`: DER, but far beyond any real DN (refused as bad_certificate too);
 * `odd`: well-formed DER with unusual string types (the gate decides them as any other name).
 */
export function hostileNames(): { label: string; kind: 'malformed' | 'oversized' | 'odd'; der: Buffer }[] {
  const o = (text: string): Buffer => atv(OID.O, 0x0c, text);
  return [
    {
      label: 'SET with a non-minimal length (31 81 ..)',
      kind: 'malformed',
      der: name(rdn([o('Hostile')], 1), cnRdn('nonminimal-set')),
    },
    {
      label: 'an empty RDN (31 00) before a normal one',
      kind: 'malformed',
      der: name(tlv(0x31, Buffer.alloc(0)), cnRdn('empty-rdn')),
    },
    {
      label: 'a Name SEQUENCE with a non-minimal length',
      kind: 'malformed',
      der: tlv(0x30, [cnRdn('nonminimal-name')], 2),
    },
    {
      label: 'an AttributeTypeAndValue with a non-minimal length',
      kind: 'malformed',
      der: name(tlv(0x31, [tlv(0x30, [oid(OID.CN), tlv(0x0c, Buffer.from('nonminimal-atv'))], 1)])),
    },
    {
      label: 'a string with a non-minimal length',
      kind: 'malformed',
      der: name(rdn([seq(oid(OID.CN), tlv(0x0c, Buffer.from('nonminimal-string'), 1))])),
    },
    { label: 'a 60 KB name', kind: 'oversized', der: name(rdn([o('Big')]), cnRdn('b'.repeat(60_000))) },
    {
      label: 'a CN nested 2,000 SEQUENCEs deep',
      kind: 'oversized',
      der: name(rdn([seq(oid(OID.CN), nested(2000))])),
    },
    { label: 'a CN nested 100 SEQUENCEs deep', kind: 'odd', der: name(rdn([seq(oid(OID.CN), nested(100))])) },
    {
      label: 'a CN of type BIT STRING',
      kind: 'odd',
      der: name(rdn([atv(OID.CN, 0x03, Buffer.from([0, 0x41, 0x42]))])),
    },
    {
      label: 'a PrintableString with "@", CR and NUL',
      kind: 'odd',
      der: name(rdn([atv(OID.CN, 0x13, Buffer.from('a@b\r\n\0c', 'latin1'))])),
    },
    {
      label: 'an IA5String with bytes >= 0x80',
      kind: 'odd',
      der: name(rdn([atv(OID.CN, 0x16, Buffer.from([0x61, 0xff, 0xfe]))])),
    },
    {
      label: 'a NumericString with letters',
      kind: 'odd',
      der: name(rdn([atv(OID.CN, 0x12, 'not-numeric')])),
    },
    {
      label: 'an even-length BMPString',
      kind: 'odd',
      der: name(rdn([atv(OID.CN, 0x1e, Buffer.from([0, 0x41, 0x26, 0x3a]))])),
    },
  ];
}

/** Subject Names OpenSSL refuses to load at all (so no TLS client can present them). */
export function unloadableNames(): { label: string; der: Buffer }[] {
  return [
    { label: 'an odd-length BMPString', der: name(rdn([atv(OID.CN, 0x1e, Buffer.from([0, 0x41, 0]))])) },
    {
      label: 'a UniversalString of 5 octets',
      der: name(rdn([atv(OID.CN, 0x1c, Buffer.from([0, 0, 0, 0x41, 0]))])),
    },
    {
      label: 'invalid UTF-8 in a UTF8String',
      der: name(rdn([atv(OID.CN, 0x0c, Buffer.from([0xff, 0xfe]))])),
    },
    { label: 'a CN of type INTEGER', der: name(rdn([atv(OID.CN, 0x02, Buffer.from([1]))])) },
  ];
}
