/**
 * The value encoders of headers.ts at their edges, as pure functions: the RFC 7239 node, the
 * partner ids of a certificate without a CN, header text, SAN lists, PEM URL-encoding and XFCC
 * quoting. test/identity/headers.test.ts checks whole header sets for real certificates.
 */
import { describe, expect, it } from 'vitest';
import type { ClientIdentity } from '../../src/identity/client-identity.js';
import {
  defaultPartnerId,
  forwardedValue,
  headerList,
  headerText,
  undeclaredClientId,
  urlEncodedPem,
  xfccValue,
} from '../../src/identity/headers.js';

describe('forwardedValue', () => {
  it.each([
    ['192.0.2.7', 'for=192.0.2.7;proto=https'],
    ['2001:db8::1', 'for="[2001:db8::1]";proto=https'],
    ['::1', 'for="[::1]";proto=https'],
    ['::ffff:192.0.2.7', 'for="[::ffff:192.0.2.7]";proto=https'],
    ['', 'for=unknown;proto=https'],
    ['abcd', 'for=unknown;proto=https'],
    ['fe80::1%eth0', 'for=unknown;proto=https'],
    ['x192.0.2.7', 'for=unknown;proto=https'],
    ['192.0.2.7x', 'for=unknown;proto=https'],
    ['192.0.2.7;by=evil', 'for=unknown;proto=https'],
    ['g::1', 'for=unknown;proto=https'],
    ['::1g', 'for=unknown;proto=https'],
  ])('%j → %s', (address, value) => {
    expect(forwardedValue(address)).toBe(value);
  });
});

describe('partner ids of a certificate', () => {
  const id = (commonNameRfc2253: string | undefined): ClientIdentity =>
    ({ commonNameRfc2253, subject: 'OU=Ops,O=Acme' }) as unknown as ClientIdentity;

  it('use the CN, or the whole subject when there is no CN or an empty one', () => {
    expect(defaultPartnerId(id('acme\\,inc'))).toBe('acme\\,inc');
    expect(defaultPartnerId(id(undefined))).toBe('OU=Ops,O=Acme');
    expect(defaultPartnerId(id(''))).toBe('OU=Ops,O=Acme');
    expect(undeclaredClientId(id('acme'))).toBe('cn:acme');
    expect(undeclaredClientId(id(undefined))).toBe('subject:OU=Ops,O=Acme');
    expect(undeclaredClientId(id(''))).toBe('subject:OU=Ops,O=Acme');
  });
});

describe('header text and lists', () => {
  it('headerText keeps printable ASCII, percent-encodes the rest and both edge spaces', () => {
    expect(headerText('CN=a b,O=x~')).toBe('CN=a b,O=x~');
    expect(headerText('a\u001fb\u007fc')).toBe('a%1Fb%7Fc');
    expect(headerText('café')).toBe('caf%C3%A9');
    expect(headerText(' CN=x')).toBe('%20CN=x');
    expect(headerText('CN=x\\ ')).toBe('CN=x\\20');
    expect(headerText('CN=x ')).toBe('CN=x%20');
  });

  it('headerList escapes %, comma, space and non-ASCII per item (Latin-1 as bytes)', () => {
    expect(headerList(['a,b', 'c%d', 'é', ' x', '€', 'plain'])).toBe('a%2Cb,c%25d,%E9,%20x,%E2%82%AC,plain');
    // DEL is not printable; U+00FF is the last Latin-1 byte, U+0100 the first character past it.
    expect(headerList(['a\u007fb', '\u00ff', '\u0100'])).toBe('a%7Fb,%FF,%C4%80');
  });

  it('urlEncodedPem escapes space, newline, + / = (but not + / = for ALB)', () => {
    expect(urlEncodedPem('A+/= z\n-')).toBe('A%2B%2F%3D%20z%0A-');
    expect(urlEncodedPem('A+/= z\n-', true)).toBe('A+/=%20z%0A-');
  });

  it('xfccValue quotes only values that need it, escaping " and \\', () => {
    expect(xfccValue('spiffe://x/a')).toBe('spiffe://x/a');
    for (const v of ['a,b', 'a;b', 'a=b', 'a b', 'a\tb']) expect(xfccValue(v)).toBe(`"${v}"`);
    expect(xfccValue('a"b\\c')).toBe('"a\\"b\\\\c"');
    expect(xfccValue('plain', true)).toBe('"plain"');
  });
});
