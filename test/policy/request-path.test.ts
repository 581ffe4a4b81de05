/**
 * normalizeRequestPath rule by rule (request-path.ts, README "Request paths"): each refusal with
 * the sentence it gives, each escape decoded or kept at the edges of the unreserved set, each
 * fold to ASCII that is refused, and dot segments. test/policy/policy.test.ts and
 * test/e2e/path-corpus.test.ts check the same paths through the policy and a real gateway.
 */
import { describe, expect, it } from 'vitest';
import { normalizeRequestPath } from '../../src/policy/request-path.js';

const NOT_HEX = 'a % is not followed by two hex digits';
const SLASH = 'an encoded / or \\';
const CONTROL = 'an encoded control character';
const DOUBLE = 'a double percent-encoding (%25 before two hex digits)';
const UTF8 = 'percent-encoded bytes that are not valid UTF-8';
const RAW = 'a space, control or non-ASCII character';
const FOLDS = 'a non-ASCII character that folds to ASCII (case or NFKC)';
const PARAMETER = 'a ; (path parameter)';

describe('normalizeRequestPath refusals, each with its reason', () => {
  it.each([
    ['admin', 'the path does not start with /'],
    ['', 'the path does not start with /'],
    ['/a%zz', NOT_HEX],
    ['/a%2', NOT_HEX],
    ['/a%', NOT_HEX],
    ['/a%g0', NOT_HEX],
    ['/a%0g', NOT_HEX],
    ['/a%G0', NOT_HEX],
    ['/a%:0', NOT_HEX],
    ['/a%/0', NOT_HEX],
    ['/a%@0', NOT_HEX],
    ['/a%`0', NOT_HEX],
    ['/a%2F', SLASH],
    ['/a%2fb', SLASH],
    ['/a%5Cb', SLASH],
    ['/a%00', CONTROL],
    ['/a%1F', CONTROL],
    ['/a%0a', CONTROL],
    ['/a%7F', CONTROL],
    ['/%2561dmin', DOUBLE],
    ['/%25aF', DOUBLE],
    ['/%2500', DOUBLE],
    ['/%250a', DOUBLE],
    ['/%25a0', DOUBLE],
    ['/%c0%ae%c0%ae/admin', UTF8],
    ['/%ed%a0%80', UTF8],
    ['/%c3', UTF8],
    ['/%c3a', UTF8],
    ['/%c3%41', UTF8],
    // Bytes on both sides of an ASCII escape or character are two sequences, not one.
    ['/%c3%41%a9', UTF8],
    ['/%c3a%a9', UTF8],
    ['/%ff', UTF8],
    ['/%80', UTF8],
    ['/%7F%80', CONTROL],
    ['/a b', RAW],
    ['/a\u001fb', RAW],
    ['/a\u007fb', RAW],
    ['/é', RAW],
    ['/a\\b', 'a \\'],
    ['/a#b', 'a #'],
    ['/a;b', PARAMETER],
    ['/a%41;b', PARAMETER],
    ['/adm%C4%B1n', FOLDS], // dotless ı: upper case is I
    ['/%C5%BF', FOLDS], // long ſ: upper case is S
    ['/%E2%84%AA', FOLDS], // Kelvin sign: lower case is k
    ['/%C3%9F', FOLDS], // ß: upper case is SS
    ['/%EF%AC%81', FOLDS], // ﬁ: NFKC is fi
    ['/%EF%BD%81', FOLDS], // fullwidth ａ: NFKC only
    ['/%E2%91%A0', FOLDS], // ①: NFKC only
    ['/caf%C3%A9/%E2%91%A0', FOLDS],
  ])('refuses %j: %s', (path, problem) => {
    expect(normalizeRequestPath(path, true)).toEqual({ ok: false, problem });
  });
});

describe('normalizeRequestPath normal forms', () => {
  it.each([
    // Unreserved escapes are decoded, at every edge of the set; everything else is kept, upper-cased.
    ['/%30%39%41%5A%61%7A', '/09AZaz'],
    ['/%2D%2E%5F%7E', '/-._~'],
    ['/%2d%2e%5f%7e', '/-._~'],
    ['/%4a%4A', '/JJ'],
    ['/%2C%2c%3A%40%5B%60%7B%2B%21', '/%2C%2C%3A%40%5B%60%7B%2B%21'],
    ['/%20%22%3c', '/%20%22%3C'],
    ['/caf%c3%a9', '/caf%C3%A9'],
    ['/%e2%82%ac%41', '/%E2%82%ACA'],
    // A % not followed by two hex digits after %25 is a literal percent, not a double encoding.
    ['/a%25', '/a%25'],
    ['/a%25zz', '/a%25zz'],
    ['/a%252', '/a%252'],
    ['/a%25z2', '/a%25z2'],
    // Only %25 is checked for a following hex pair.
    ['/%41ab', '/Aab'],
    ['/%2D00', '/-00'],
    // Every pchar passes as is, on the fast path and after an escape.
    ["/!$&'()*+,=:@~-._", "/!$&'()*+,=:@~-._"],
    ["/%41!$&'()*+,=:@~", "/A!$&'()*+,=:@~"],
    // Slashes merged, then dot segments removed.
    ['//a///b', '/a/b'],
    ['/a/.', '/a/'],
    ['/a/./b', '/a/b'],
    ['/a/b/../../c', '/c'],
    ['/a/../../b', '/b'],
    ['/.', '/'],
    ['/a/..', '/'],
    ['/a/%2E%2E', '/'],
    ['/a/.b/..c/...', '/a/.b/..c/...'],
    ['/a/..b%41', '/a/..bA'],
  ])('%j is %j', (path, expected) => {
    expect(normalizeRequestPath(path, true)).toEqual({ ok: true, path: expected, query: '' });
  });

  it('splits at the first ? and keeps the query exactly as sent', () => {
    expect(normalizeRequestPath('/a%41?b=%2F?c', true)).toEqual({ ok: true, path: '/aA', query: '?b=%2F?c' });
    expect(normalizeRequestPath('/a?', true)).toEqual({ ok: true, path: '/a', query: '?' });
    expect(normalizeRequestPath('/?x', true)).toEqual({ ok: true, path: '/', query: '?x' });
    expect(normalizeRequestPath('?x', true)).toEqual({
      ok: false,
      problem: 'the path does not start with /',
    });
  });

  it('keeps path parameters when no policy routes requests', () => {
    expect(normalizeRequestPath('/a;v=1/%41', false)).toEqual({ ok: true, path: '/a;v=1/A', query: '' });
    expect(normalizeRequestPath('/a;v=1', false)).toEqual({ ok: true, path: '/a;v=1', query: '' });
  });
});
