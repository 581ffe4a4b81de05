/**
 * ClientIdentity against openssl's own reading of the same certificate: subject and issuer
 * (`-nameopt RFC2253`), serial, SHA-256 fingerprint, SANs and validity, for certificates with
 * awkward names made per run by the openssl CLI, and hand-built DER for what the CLI refuses.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseCertificate } from '../../src/asn1/certificate.js';
import { formatRfc2253 } from '../../src/asn1/name.js';
import { type ClientIdentity, clientIdentityFromDer } from '../../src/identity/client-identity.js';
import { defaultPartnerId, identityHeaders } from '../../src/identity/headers.js';
import { atv, handCert, seq, set, type TestCert, tlv, utf8, Workdir } from './fixtures.js';

let work: Workdir;
const certs: TestCert[] = [];

/** Certificates the openssl CLI writes; one per awkward-name case. */
function buildOpensslCerts(w: Workdir): TestCert[] {
  const out: TestCert[] = [];
  out.push(
    w.req('normal', {
      subj: '/O=Partner A/CN=partner-a',
      alt: 'DNS.1=partner-a.example\nDNS.2=api.partner-a.example\nURI.1=spiffe://partners.example/a\nemail.1=ops@partner-a.example',
      serial: '0x1000',
    }),
    w.req('multi-valued RDN', { subj: '/CN=a+UID=b/O=x+OU=y+L=z' }),
    w.req('specials', { subj: '/O=Acme, Inc. \\+ "q" \\\\ <>;#=x/CN=x\\/y' }),
    w.req('spaces and hash', { subj: '/OU= lead/OU=trail /OU=#hash/OU=#/OU=a#b/CN= ' }),
    w.req('trailing space first RDN', { subj: '/C=DE/O=Acme /CN=x' }),
    w.req('utf8', { subj: '/L=é日本/O=Ünïcödé GmbH/CN=José' }),
    w.req('bmp', { dn: 'CN=été\nO=日本\nOU=plain', stringMask: 'default' }),
    w.req('t61', { dn: 'CN=é t\nO=Ärger', stringMask: 'MASK:0x6' }),
    w.req('email and DC', { subj: '/DC=com/DC=example/emailAddress=a@b.example/CN=dc' }),
    w.req('controls', { subj: '/ST=cr\rlf\n/CN=tab\there' }),
    w.req('more attributes', {
      subj: '/serialNumber=123/title=Dr/street=Main St 1/postalCode=12345/GN=Ann/SN=Lee/unstructuredName=u/postalAddress=p/CN=x',
    }),
    w.req('long', {
      subj: `${Array.from({ length: 40 }, (_, i) => `/OU=unit-${i}-${'x'.repeat(50)}`).join('')}/CN=${'c'.repeat(64)}`,
    }),
    w.req('serial 80', { subj: '/CN=s', serial: '0x80' }),
    w.req('serial 01', { subj: '/CN=s', serial: '1' }),
    w.req('serial 00', { subj: '/CN=s', serial: '0' }),
    w.req('serial FF00', { subj: '/CN=s', serial: '0xFF00' }),
    w.req('serial 20 bytes', { subj: '/CN=s', serial: '0x81a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4' }),
    w.req('hostile SANs', {
      subj: '/CN=sans',
      alt: 'DNS.1=a,b.example\nDNS.2=ok.example\nURI.1=spiffe://x/a,b;c=d\nemail.1=café@x.example\nIP.1=10.0.0.1',
    }),
  );
  const ca = w.req('awkward CA', { subj: '/O=CA, Inc. \\+ "x"/OU= é /CN=Issuing CA #1' });
  out.push(ca, w.req('issued by awkward CA', { subj: '/O=Partner B/CN=partner-b', ca }));
  return out;
}

/** Hand-built DER for names and serials the CLI will not write; openssl still reads them. */
function buildHandCerts(w: Workdir): TestCert[] {
  const name = (...rdns: Buffer[]): Buffer => seq(...rdns);
  return [
    w.der(
      'unknown OID',
      handCert({
        subject: name(set(atv('1.2.3.4.5', 0x0c, utf8('ab'))), set(atv('2.5.4.3', 0x0c, utf8('u')))),
      }),
    ),
    w.der('lone hash', handCert({ subject: name(set(atv('2.5.4.3', 0x0c, utf8('#')))) })),
    w.der('lone space', handCert({ subject: name(set(atv('2.5.4.3', 0x0c, utf8(' ')))) })),
    w.der('empty value', handCert({ subject: name(set(atv('2.5.4.3', 0x0c, []))) })),
    w.der(
      'DEL NUL TAB',
      handCert({ subject: name(set(atv('2.5.4.3', 0x0c, [0x61, 0x7f, 0x62, 0x00, 0x09, 0x0d, 0x0a]))) }),
    ),
    w.der('T61 high bytes', handCert({ subject: name(set(atv('2.5.4.3', 0x14, [0x23, 0xe9, 0xff, 0x20]))) })),
    w.der(
      'BMP first hash',
      handCert({ subject: name(set(atv('2.5.4.3', 0x1e, [0, 0x23, 0x65, 0xe5, 0, 0x20]))) }),
    ),
    w.der(
      'UniversalString emoji',
      handCert({ subject: name(set(atv('2.5.4.3', 0x1c, [0, 0, 0, 0x61, 0, 1, 0xf6, 0]))) }),
    ),
    w.der(
      'SEQUENCE value',
      handCert({ subject: name(set(seq(tlv(6, [0x55, 4, 3]), seq(tlv(0x0c, utf8('x')))))) }),
    ),
    w.der('bit string attribute', handCert({ subject: name(set(atv('2.5.4.45', 0x03, [0, 0xab]))) })),
    w.der(
      'lower-case uid',
      handCert({ subject: name(set(atv('0.9.2342.19200300.100.1.44', 0x0c, utf8('u')))) }),
    ),
    w.der(
      'multi-valued hand',
      handCert({ subject: name(set(atv('2.5.4.3', 0x0c, utf8('b')), atv('2.5.4.3', 0x0c, utf8('a')))) }),
    ),
    w.der('empty subject', handCert({ subject: seq(), san: [tlv(0x82, utf8('only.example'))] })),
    w.der(
      'negative serial',
      handCert({ subject: name(set(atv('2.5.4.3', 0x0c, utf8('n')))), serial: [0xff, 0x01] }),
    ),
    w.der(
      'negative serial -80',
      handCert({ subject: name(set(atv('2.5.4.3', 0x0c, utf8('n')))), serial: [0x80] }),
    ),
  ];
}

beforeAll(() => {
  work = new Workdir();
  certs.push(...buildOpensslCerts(work), ...buildHandCerts(work));
});
afterAll(() => work?.cleanup());

function sansOf(c: TestCert, type: string): string[] {
  return c.openssl.san.filter((s) => s.startsWith(`${type}:`)).map((s) => s.slice(type.length + 1));
}

describe('clientIdentityFromDer agrees with openssl', () => {
  it('builds the fixture set', () => {
    expect(certs.length).toBeGreaterThan(30);
  });

  it('subject and issuer equal `openssl x509 -nameopt RFC2253`, byte for byte', () => {
    for (const c of certs) {
      const id = clientIdentityFromDer(c.der, []);
      expect({ name: c.name, subject: id.subject }).toEqual({ name: c.name, subject: c.openssl.subject });
      expect({ name: c.name, issuer: id.issuer }).toEqual({ name: c.name, issuer: c.openssl.issuer });
      expect(formatRfc2253(parseCertificate(c.der).subjectDer)).toBe(c.openssl.subject);
      expect(id.subject).toMatch(/^[\x20-\x7e]*$/);
    }
  });

  it('serial equals `openssl x509 -serial`, fingerprint equals `-fingerprint -sha256`', () => {
    for (const c of certs) {
      const id = clientIdentityFromDer(c.der, []);
      expect({ name: c.name, serial: id.serial }).toEqual({ name: c.name, serial: c.openssl.serial });
      expect(id.fingerprint256).toBe(c.openssl.fingerprint);
    }
    const byName = (n: string): ClientIdentity =>
      clientIdentityFromDer(certs.find((c) => c.name === n)!.der, []);
    expect(byName('serial 80').serial).toBe('80');
    expect(byName('serial 01').serial).toBe('01');
    expect(byName('serial 00').serial).toBe('00');
    expect(byName('serial FF00').serial).toBe('FF00');
    expect(byName('serial 20 bytes').serial).toBe('81A2B3C4D5E6F708192A3B4C5D6E7F8091A2B3C4');
    expect(byName('negative serial').serial).toBe('-FF');
  });

  it('validity equals `-startdate`/`-enddate`; SANs equal what openssl prints', () => {
    for (const c of certs) {
      const id = clientIdentityFromDer(c.der, []);
      expect(id.notBefore).toBe(c.openssl.notBefore);
      expect(id.notAfter).toBe(c.openssl.notAfter);
      expect({ name: c.name, dns: id.sanDns }).toEqual({ name: c.name, dns: sansOf(c, 'DNS') });
      expect({ name: c.name, uri: id.sanUri }).toEqual({ name: c.name, uri: sansOf(c, 'URI') });
      expect({ name: c.name, email: id.sanEmail }).toEqual({ name: c.name, email: sansOf(c, 'email') });
    }
  });

  it('x-client-cert decodes back to the PEM openssl wrote', () => {
    for (const c of certs.filter((x) => x.pem !== '')) {
      const headers = new Map(identityHeaders(clientIdentityFromDer(c.der, []), 'p', ['gateway']));
      expect(decodeURIComponent(headers.get('x-client-cert')!)).toBe(c.pem);
    }
  });

  it('decodes CN, O and OU values and keeps the chain as given', () => {
    const normal = certs.find((c) => c.name === 'normal')!;
    const ca = certs.find((c) => c.name === 'awkward CA')!;
    const id = clientIdentityFromDer(normal.der, [ca.der]);
    expect(id.commonName).toBe('partner-a');
    expect(id.organization).toEqual(['Partner A']);
    expect(id.organizationalUnit).toEqual([]);
    expect(id.chainDer).toEqual([ca.der]);
    expect(id.leafDer).toBe(normal.der);
    expect(Object.isFrozen(id)).toBe(true);

    const utf = clientIdentityFromDer(certs.find((c) => c.name === 'utf8')!.der, []);
    expect(utf.commonName).toBe('José');
    expect(utf.organization).toEqual(['Ünïcödé GmbH']);
    const bmp = clientIdentityFromDer(certs.find((c) => c.name === 'bmp')!.der, []);
    expect([bmp.commonName, bmp.organization, bmp.organizationalUnit]).toEqual(['été', ['日本'], ['plain']]);
    const t61 = clientIdentityFromDer(certs.find((c) => c.name === 't61')!.der, []);
    expect([t61.commonName, t61.organization]).toEqual(['é t', ['Ärger']]);
    const multi = clientIdentityFromDer(certs.find((c) => c.name === 'multi-valued RDN')!.der, []);
    expect(multi.commonName).toBe('a');
    expect(multi.organizationalUnit).toEqual(['y']);
  });

  it('defaultPartnerId is the CN escaped as in the subject, or the subject without a CN', () => {
    const pick = (n: string): ClientIdentity =>
      clientIdentityFromDer(certs.find((c) => c.name === n)!.der, []);
    expect(defaultPartnerId(pick('normal'))).toBe('partner-a');
    expect(defaultPartnerId(pick('specials'))).toBe('x/y');
    expect(defaultPartnerId(pick('utf8'))).toBe('Jos\\C3\\A9');
    expect(defaultPartnerId(pick('spaces and hash'))).toBe('\\ ');
    expect(defaultPartnerId(pick('DEL NUL TAB'))).toBe('a\\7Fb\\00\\09\\0D\\0A');
    expect(defaultPartnerId(pick('email and DC'))).toBe('dc');
    expect(defaultPartnerId(pick('bit string attribute'))).toBe('x500UniqueIdentifier=#030200AB');
    expect(defaultPartnerId(pick('empty subject'))).toBe('');
    for (const c of certs) {
      const id = clientIdentityFromDer(c.der, []);
      const cn = defaultPartnerId(id);
      expect(cn).toMatch(/^[\x20-\x7e]*$/);
      // The CN as escaped is exactly the text after `CN=` in openssl's subject when CN is the last RDN.
      if (c.openssl.subject.startsWith('CN=') && !/^CN=[^,+]*\+/.test(c.openssl.subject)) {
        const first = c.openssl.subject.split(/(?<!\\),/).at(-1) ?? '';
        if (first.startsWith('CN=') && first.length > 3) expect(cn).toBe(first.slice(3));
      }
    }
  });

  it('refuses malformed DER instead of guessing', () => {
    const normal = certs.find((c) => c.name === 'normal')!;
    expect(() => clientIdentityFromDer(normal.der.subarray(0, normal.der.length - 1), [])).toThrow();
    expect(() => clientIdentityFromDer(Buffer.from([0x30, 0x03, 0x02, 0x01, 0x01]), [])).toThrow();
  });
});

describe('clientIdentityFromDer on hand-built DER (no openssl)', () => {
  const cn = (v: string): Buffer => seq(set(atv('2.5.4.3', 0x0c, utf8(v))));

  it('prints a negative serial without dropping a non-zero leading byte of its magnitude', () => {
    const serialOf = (bytes: number[]): string =>
      clientIdentityFromDer(handCert({ subject: cn('n'), serial: bytes }), []).serial;
    expect(serialOf([0x80, 0x00])).toBe('-8000');
    expect(serialOf([0xff, 0x00])).toBe('-0100');
    expect(serialOf([0xff, 0x01])).toBe('-FF');
    expect(serialOf([0x80])).toBe('-80');
  });

  it('leaves out O and OU values that are not strings', () => {
    const subject = seq(
      set(atv('2.5.4.10', 0x03, [0, 0xab])),
      set(atv('2.5.4.10', 0x0c, utf8('Kept'))),
      set(seq(tlv(6, [0x55, 4, 11]), seq(tlv(0x0c, utf8('x'))))),
      set(atv('2.5.4.3', 0x0c, utf8('c'))),
    );
    const id = clientIdentityFromDer(handCert({ subject }), []);
    expect(id.organization).toEqual(['Kept']);
    expect(id.organizationalUnit).toEqual([]);
    expect(id.commonName).toBe('c');
  });

  it('names the element at fault when the DER does not match the parsed leaf', () => {
    const parsed = parseCertificate(handCert({ subject: cn('p') }));
    const fail = (der: Buffer) => () => clientIdentityFromDer(der, [], parsed);
    expect(fail(tlv(0x31, []))).toThrow('Certificate: expected tag 0x30, found tag 0x31');
    expect(fail(seq(tlv(0x31, [])))).toThrow('TBSCertificate: expected tag 0x30, found tag 0x31');
    expect(fail(seq(seq(tlv(0xa0, tlv(2, [2])), tlv(4, [1]))))).toThrow(
      'serialNumber: expected tag 0x2, found tag 0x4',
    );
  });
});
