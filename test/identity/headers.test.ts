/**
 * Identity header sets: exact values for an ordinary certificate in every format, and for hostile
 * certificates (CR/LF, NUL, non-ASCII, quotes, separators in names and SANs) that every value is a
 * valid header value and that XFCC parses back under Envoy's own rules.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ClientIdentity, clientIdentityFromDer } from '../../src/identity/client-identity.js';
import {
  HEADER_FORMATS,
  type HeaderPair,
  headerList,
  identityHeaders,
  isoSeconds,
  xfccValue,
} from '../../src/identity/headers.js';
import { isIdentityHeader } from '../../src/identity/strip.js';
import { atv, handCert, seq, set, type TestCert, tlv, utf8, Workdir } from './fixtures.js';

let work: Workdir;
let normal: TestCert;
let ca: TestCert;
let hostile: TestCert[];

beforeAll(() => {
  work = new Workdir();
  ca = work.req('ca', { subj: '/O=Test CA/CN=Test CA' });
  normal = work.req('normal', {
    subj: '/O=Partner A/CN=partner-a',
    alt: 'DNS.1=partner-a.example\nDNS.2=api.partner-a.example\nURI.1=spiffe://partners.example/a\nemail.1=ops@partner-a.example',
    serial: '0x8a01',
    ca,
  });
  const name = (...rdns: Buffer[]): Buffer => seq(...rdns);
  hostile = [
    work.req('quotes', { subj: '/O=a "quoted" \\\\ \\; back/CN=x;y=z,"w"', alt: 'URI.1=spiffe://x/a,b;c=d' }),
    work.req('controls', {
      subj: '/ST=cr\rlf\n/CN=tab\there',
      alt: 'DNS.1=a,b.example\nemail.1=café@x.example',
    }),
    work.req('trailing space', { subj: '/O=Acme /CN=x ' }),
    work.der(
      'hostile SAN bytes',
      handCert({
        subject: name(set(atv('2.5.4.3', 0x0c, [0x61, 0x0d, 0x0a, 0x00, 0xc3, 0xa9, 0x22, 0x3b]))),
        san: [
          tlv(0x82, utf8('a\r\nx-injected: 1')),
          tlv(0x82, [0x62, 0x00, 0xff, 0x20, 0x2c]),
          tlv(0x86, utf8('spiffe://x/"a";b=c,d\\e')),
          tlv(0x86, utf8(' lead')),
          tlv(0x81, [0x6f, 0x70, 0x73, 0x40, 0xe9, 0x0a]),
        ],
      }),
    ),
  ];
});
afterAll(() => work?.cleanup());

const lookup = (pairs: readonly HeaderPair[]): Map<string, string> => new Map(pairs);

/** Envoy's XFCC_VALUE parser (source/extensions/formatter/xfcc_value), returning every pair. */
function parseXfcc(header: string): [string, string][][] {
  const splitUnquoted = (s: string, sep: string): string[] => {
    const parts: string[] = [];
    let inQuotes = false;
    let start = 0;
    for (let i = 0; i <= s.length; i++) {
      if (i === s.length || s[i] === sep) {
        if (!inQuotes) {
          parts.push(s.slice(start, i));
          start = i + 1;
        }
        continue;
      }
      if (s[i] === '"') {
        let backslashes = 0;
        for (let j = i - 1; j >= 0 && s[j] === '\\'; j--) backslashes++;
        if (backslashes % 2 === 0) inQuotes = !inQuotes;
      }
    }
    if (inQuotes) throw new Error('unmatched quotes');
    return parts;
  };
  return splitUnquoted(header, ',').map((element) =>
    splitUnquoted(element, ';').map((pair) => {
      const eq = pair.indexOf('=');
      const key = pair.slice(0, eq).trim();
      let value = pair.slice(eq + 1).trim();
      // Between the quotes as written: Envoy puts the RFC 2253 Subject there verbatim (its `\"` and
      // `\\` are the DN's own escapes), so a service reads the DN without unescaping anything.
      if (value.length >= 2 && value.startsWith('"') && value.endsWith('"')) value = value.slice(1, -1);
      return [key, value];
    }),
  );
}

function expectWellFormed(pairs: readonly HeaderPair[]): void {
  for (const [name, value] of pairs) {
    expect(name).toMatch(/^[a-z0-9-]+$/);
    expect(isIdentityHeader(name)).toBe(true);
    expect({ name, value }).toEqual({
      name,
      value: expect.stringMatching(/^(?:[\x21-\x7e](?:[\x20-\x7e]*[\x21-\x7e])?)?$/),
    });
  }
}

describe('identity header formats, ordinary certificate', () => {
  let id: ClientIdentity;
  let pem: string;
  let enc: string;
  beforeAll(() => {
    id = clientIdentityFromDer(normal.der, [ca.der]);
    pem = normal.pem;
    enc = pem
      .replaceAll(' ', '%20')
      .replaceAll('\n', '%0A')
      .replaceAll('+', '%2B')
      .replaceAll('/', '%2F')
      .replaceAll('=', '%3D');
  });

  it('gateway: every header of design.md, exactly', () => {
    expect(identityHeaders(id, 'partner-a', ['gateway'])).toEqual([
      ['x-client-verify', 'SUCCESS'],
      ['x-client-subject', 'CN=partner-a,O=Partner A'],
      ['x-client-issuer', 'CN=Test CA,O=Test CA'],
      ['x-client-serial', '8A01'],
      ['x-client-fingerprint-sha256', normal.openssl.fingerprint],
      ['x-client-san-dns', 'partner-a.example,api.partner-a.example'],
      ['x-client-san-uri', 'spiffe://partners.example/a'],
      ['x-client-san-email', 'ops@partner-a.example'],
      ['x-client-not-after', isoSeconds(normal.openssl.notAfter)],
      ['x-client-id', 'partner-a'],
      ['x-client-declared', 'false'],
      ['x-client-cert', enc],
    ]);
    expect(isoSeconds(normal.openssl.notAfter)).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    expect(isoSeconds(Date.UTC(2027, 10, 26, 12, 0, 0))).toBe('2027-11-26T12:00:00Z');
    expect(decodeURIComponent(enc)).toBe(pem);
  });

  it('gateway: SAN headers only when present; not-after from the certificate', () => {
    const der = handCert({
      subject: seq(set(atv('2.5.4.3', 0x0c, utf8('plain')))),
      notAfter: '20271126120000Z',
    });
    const h = lookup(identityHeaders(clientIdentityFromDer(der, []), 'plain', ['gateway']));
    expect([...h.keys()].filter((k) => k.startsWith('x-client-san'))).toEqual([]);
    expect(h.get('x-client-not-after')).toBe('2027-11-26T12:00:00Z');
  });

  it('xfcc: Hash, Cert, Subject, URI, DNS in that order, no By', () => {
    const h = lookup(identityHeaders(id, 'partner-a', ['xfcc']));
    expect(h.get('x-forwarded-client-cert')).toBe(
      `Hash=${normal.openssl.fingerprint};Cert="${enc}";Subject="CN=partner-a,O=Partner A";` +
        'URI=spiffe://partners.example/a;DNS=partner-a.example;DNS=api.partner-a.example',
    );
    const [element] = parseXfcc(h.get('x-forwarded-client-cert')!);
    expect(element!.map(([k]) => k)).toEqual(['Hash', 'Cert', 'Subject', 'URI', 'DNS', 'DNS']);
    expect(decodeURIComponent(element![1]![1])).toBe(pem);
    const noSan = clientIdentityFromDer(ca.der, []);
    expect(lookup(identityHeaders(noSan, 'x', ['xfcc'])).get('x-forwarded-client-cert')).toMatch(
      /;Subject="CN=Test CA,O=Test CA";URI=$/,
    );
  });

  it('alb: the ALB verify-mode set, leaf with + = / unencoded', () => {
    expect(identityHeaders(id, 'partner-a', ['alb'])).toEqual([
      ['x-amzn-mtls-clientcert-serial-number', '8A01'],
      ['x-amzn-mtls-clientcert-issuer', 'CN=Test CA,O=Test CA'],
      ['x-amzn-mtls-clientcert-subject', 'CN=partner-a,O=Partner A'],
      [
        'x-amzn-mtls-clientcert-validity',
        `NotBefore=${isoSeconds(normal.openssl.notBefore)};NotAfter=${isoSeconds(normal.openssl.notAfter)}`,
      ],
      ['x-amzn-mtls-clientcert-leaf', pem.replaceAll(' ', '%20').replaceAll('\n', '%0A')],
    ]);
  });

  it('rfc9440: Client-Cert and Client-Cert-Chain as RFC 8941 byte sequences', () => {
    const b64 = (d: Buffer): string => d.toString('base64');
    expect(identityHeaders(id, 'partner-a', ['rfc9440'])).toEqual([
      ['client-cert', `:${b64(normal.der)}:`],
      ['client-cert-chain', `:${b64(ca.der)}:`],
    ]);
    const two = clientIdentityFromDer(normal.der, [ca.der, normal.der]);
    const chain = lookup(identityHeaders(two, 'p', ['rfc9440'])).get('client-cert-chain')!;
    expect(chain).toBe(`:${b64(ca.der)}:, :${b64(normal.der)}:`);
    const items = chain.split(', ').map((item) => /^:([A-Za-z0-9+/]*={0,2}):$/.exec(item)?.[1]);
    expect(items.map((i) => Buffer.from(i!, 'base64'))).toEqual([ca.der, normal.der]);
    const leafOnly = clientIdentityFromDer(normal.der, []);
    expect(identityHeaders(leafOnly, 'p', ['rfc9440']).map(([k]) => k)).toEqual(['client-cert']);
  });

  it('several formats at once, each once, in the order given', () => {
    const names = identityHeaders(id, 'partner-a', ['rfc9440', 'gateway', 'rfc9440']).map(([k]) => k);
    expect(names[0]).toBe('client-cert');
    expect(names.filter((n) => n === 'client-cert')).toHaveLength(1);
    expect(names).toContain('x-client-id');
    const all = identityHeaders(id, 'partner-a', HEADER_FORMATS);
    expect(new Set(all.map(([k]) => k)).size).toBe(all.length);
    expectWellFormed(all);
  });
});

describe('identity header formats, hostile certificates', () => {
  it('every value is a valid header value: ASCII, no CR/LF/NUL, no edge whitespace', () => {
    for (const c of [normal, ...hostile]) {
      const id = clientIdentityFromDer(c.der, []);
      expectWellFormed(identityHeaders(id, id.commonNameRfc2253 ?? id.subject, HEADER_FORMATS));
    }
  });

  it('DNs keep openssl form; a trailing escaped space is sent as \\20 (HTTP trims trailing spaces)', () => {
    const q = lookup(identityHeaders(clientIdentityFromDer(hostile[0]!.der, []), 'x', ['gateway']));
    expect(q.get('x-client-subject')).toBe(hostile[0]!.openssl.subject);
    const t = clientIdentityFromDer(hostile[2]!.der, []);
    expect(t.subject).toBe('CN=x\\ ,O=Acme\\ ');
    const h = lookup(identityHeaders(t, 'x\\ ', ['gateway', 'alb']));
    expect(h.get('x-client-subject')).toBe('CN=x\\ ,O=Acme\\20');
    expect(h.get('x-amzn-mtls-clientcert-subject')).toBe('CN=x\\ ,O=Acme\\20');
    expect(h.get('x-client-id')).toBe('x\\20');
  });

  it('SAN lists: % as %25 and comma as %2C, so decoding each item gives the SAN back (one-to-one)', () => {
    expect(headerList(['ops,admin'])).toBe('ops%2Cadmin');
    expect(headerList(['ops%2Cadmin'])).toBe('ops%252Cadmin');
    expect(headerList(['100%', '%25'])).toBe('100%25,%2525');
    for (const values of [['ops,admin'], ['ops%2Cadmin'], ['a%', ',%2C,'], ['%E9', 'x']]) {
      expect(
        headerList(values)
          .split(',')
          .map((v) => decodeURIComponent(v)),
      ).toEqual(values);
    }
  });

  it('SAN lists: comma as %2C, other unsafe bytes percent-encoded, one item per SAN', () => {
    const h = lookup(identityHeaders(clientIdentityFromDer(hostile[3]!.der, []), 'p', ['gateway']));
    expect(h.get('x-client-san-dns')).toBe('a%0D%0Ax-injected:%201,b%00%FF%20%2C');
    expect(h.get('x-client-san-uri')).toBe('spiffe://x/"a";b=c%2Cd\\e,%20lead');
    expect(h.get('x-client-san-email')).toBe('ops@%E9%0A');
    const c = lookup(identityHeaders(clientIdentityFromDer(hostile[1]!.der, []), 'p', ['gateway']));
    expect(c.get('x-client-san-dns')).toBe('a%2Cb.example');
    expect(headerList(['a,b', 'c'])).toBe('a%2Cb,c');
    expect(
      headerList(['a,b', 'c'])
        .split(',')
        .map((v) => v.replaceAll('%2C', ',')),
    ).toEqual(['a,b', 'c']);
  });

  it('xfcc round-trips under Envoy rules and no certificate content adds a key', () => {
    for (const c of [normal, ...hostile]) {
      const id = clientIdentityFromDer(c.der, []);
      const value = lookup(identityHeaders(id, 'p', ['xfcc'])).get('x-forwarded-client-cert')!;
      const elements = parseXfcc(value);
      expect(elements).toHaveLength(1);
      const pairs = elements[0]!;
      const keys = pairs.map(([k]) => k);
      const expectedKeys = [
        'Hash',
        'Cert',
        'Subject',
        ...(id.sanUri.length ? id.sanUri.map(() => 'URI') : ['URI']),
      ];
      expect(keys).toEqual([...expectedKeys, ...id.sanDns.map(() => 'DNS')]);
      expect(pairs[0]![1]).toBe(id.fingerprint256);
      expect(pairs[2]![1]).toBe(id.subject);
      // URI/DNS as Envoy writes them, with `"` and `\` (never valid in a URI or DNS name) percent-encoded.
      const sanValue = (u: string): string =>
        headerList([u])
          .replaceAll('%2C', ',')
          .replaceAll('%25', '%')
          .replaceAll('"', '%22')
          .replaceAll('\\', '%5C');
      expect(pairs.filter(([k]) => k === 'URI').map(([, v]) => v)).toEqual(
        id.sanUri.length ? id.sanUri.map(sanValue) : [''],
      );
      expect(pairs.filter(([k]) => k === 'DNS').map(([, v]) => v)).toEqual(id.sanDns.map(sanValue));
    }
    expect(xfccValue('a"b\\c', false)).toBe('"a\\"b\\\\c"');
  });

  it('xfcc Subject is byte for byte what Envoy writes: the RFC 2253 DN between quotes, verbatim', () => {
    // Every RFC 2253 escape (, + " \ < > ; leading # and space, trailing space) and non-ASCII.
    const every = work.der(
      'every escape',
      handCert({
        subject: seq(
          set(atv('2.5.4.10', 0x0c, utf8(' space'))),
          set(atv('2.5.4.11', 0x0c, utf8('日本'))),
          set(atv('2.5.4.3', 0x0c, utf8('#lead, a+b "q" \\ <x> ; Åsa José '))),
        ),
      }),
    );
    const id = clientIdentityFromDer(every.der, []);
    const subject = every.openssl.subject;
    expect(subject).toContain('\\');
    expect(subject).toContain('\\C3\\85');
    expect(subject).toContain('\\"q\\"');
    expect(id.subject).toBe(subject);
    const xfcc = lookup(identityHeaders(id, 'p', ['xfcc'])).get('x-forwarded-client-cert')!;
    expect(xfcc).toContain(`;Subject="${subject}";`);
    expect(xfcc).not.toContain('\\\\C3');
    expect(xfccValue('plain')).toBe('plain');
    expect(xfccValue('a=b')).toBe('"a=b"');
  });
});
