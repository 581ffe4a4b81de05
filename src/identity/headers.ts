/**
 * Identity headers sent upstream, in each format design.md names (`gateway`, Envoy `xfcc`, AWS
 * ALB `alb`, RFC 9440 `rfc9440`), computed once per connection from a ClientIdentity.
 *
 * Security property: every value is a valid header value whatever the certificate contains —
 * printable ASCII only, never CR, LF or NUL, never leading or trailing whitespace that an HTTP
 * parser would trim — and structured values (lists, XFCC elements) are escaped so that content
 * from a certificate cannot add a list item, an XFCC key or a header of its own.
 */
import type { ClientIdentity } from './client-identity.js';

/** `forwarded` (RFC 7239) depends on the client address, not the certificate: see forwardedValue. */
export type HeaderFormat = 'gateway' | 'xfcc' | 'alb' | 'rfc9440' | 'forwarded';
export const HEADER_FORMATS: readonly HeaderFormat[] = ['gateway', 'xfcc', 'alb', 'rfc9440', 'forwarded'];

export type HeaderPair = readonly [string, string];

const HEX = '0123456789ABCDEF';
const pct = (b: number): string => `%${HEX[b >> 4]}${HEX[b & 15]}`;

/**
 * Makes free text header-safe: printable ASCII kept, anything else percent-encoded from its UTF-8
 * bytes (certificate strings read as Latin-1, like SANs, are bytes already: code units < 0x100
 * are encoded as that byte). `extra` lists further characters to percent-encode.
 */
function encodeUnsafe(text: string, extra: string, latin1: boolean): string {
  let out = '';
  for (const ch of text) {
    const c = ch.codePointAt(0)!;
    if (c > 0x20 && c < 0x7f && !extra.includes(ch)) out += ch;
    else if (c < 0x80 || (latin1 && c < 0x100)) out += pct(c);
    else for (const b of Buffer.from(ch, 'utf8')) out += pct(b);
  }
  return out;
}

/**
 * A DN (already printable ASCII from formatRfc2253) or other printable text, made safe as a
 * whole header value: non-printable bytes percent-encoded, and a leading or trailing space —
 * which HTTP parsers strip — written `\20` when it is an RFC 2253 escaped space (`\ `, the only
 * way a DN can end in a space; `\20` is the same DN) and `%20` otherwise.
 */
export function headerText(text: string): string {
  let out = '';
  for (const ch of text) {
    const c = ch.codePointAt(0)!;
    if (c >= 0x20 && c < 0x7f) out += ch;
    else for (const b of Buffer.from(ch, 'utf8')) out += pct(b);
  }
  if (out.startsWith(' ')) out = `%20${out.slice(1)}`;
  if (out.endsWith(' ')) out = out.endsWith('\\ ') ? `${out.slice(0, -1)}20` : `${out.slice(0, -1)}%20`;
  return out;
}

/**
 * design.md "Lists": values joined by ',', a '%' inside a value written %25 and a ',' written %2C
 * (and any byte that is not printable ASCII, or a space, percent-encoded too so the header stays
 * valid). Encoding '%' itself keeps the list one-to-one: a SAN `a,b` (`a%2Cb`) and a SAN holding
 * the literal text `a%2Cb` (`a%252Cb`) never give the same header, so a service that splits on ','
 * and percent-decodes each item reads back exactly the certificate's values.
 */
export function headerList(values: readonly string[]): string {
  return values.map((v) => encodeUnsafe(v, '%,', true)).join(',');
}

/** ISO 8601 UTC to the second: `2027-11-26T12:00:00Z`. */
export function isoSeconds(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** The leaf as PEM: base64 in 64-character lines, trailing newline (OpenSSL's PEM_write form). */
export function pemOf(der: Uint8Array): string {
  const b64 = Buffer.from(der.buffer, der.byteOffset, der.byteLength).toString('base64');
  let out = '-----BEGIN CERTIFICATE-----\n';
  for (let i = 0; i < b64.length; i += 64) out += `${b64.slice(i, i + 64)}\n`;
  return `${out}-----END CERTIFICATE-----\n`;
}

/**
 * PEM URL-encoded as nginx's `$ssl_client_escaped_cert` (and Envoy's XFCC `Cert`): of the PEM
 * alphabet, space, newline, '+', '/' and '=' are escaped. With `alb`, '+', '=' and '/' are left
 * as they are, as AWS ALB sends `X-Amzn-Mtls-Clientcert-Leaf`.
 */
export function urlEncodedPem(pem: string, alb = false): string {
  let out = '';
  for (const ch of pem) {
    switch (ch) {
      case ' ':
        out += '%20';
        break;
      case '\n':
        out += '%0A';
        break;
      case '+':
        out += alb ? '+' : '%2B';
        break;
      case '/':
        out += alb ? '/' : '%2F';
        break;
      case '=':
        out += alb ? '=' : '%3D';
        break;
      default:
        out += ch; // the rest of the PEM alphabet: A-Z a-z 0-9 and '-'
    }
  }
  return out;
}

/**
 * An XFCC value under Envoy's rules (its own XFCC_VALUE parser): a value containing ',', ';', '=',
 * '"', '\' or whitespace is double-quoted, with '"' written `\"` and '\' written `\\` inside the
 * quotes, so a parser that toggles quoting on an unescaped '"' and unescapes `\"` and `\\` gets
 * the value back exactly. `always` quotes regardless (Envoy always quotes Cert and Subject).
 */
export function xfccValue(value: string, always = false): string {
  if (!always && !/[,;="\\\s]/.test(value)) return value;
  return `"${value.replace(/[\\"]/g, (c) => `\\${c}`)}"`;
}

/**
 * The default partner id: the first CN as it appears in the subject (RFC 2253 escaped, so
 * ASCII-only), or the whole subject when the certificate has no CN (or an empty one).
 */
export function defaultPartnerId(identity: ClientIdentity): string {
  const cn = identity.commonNameRfc2253;
  return cn !== undefined && cn !== '' ? cn : identity.subject;
}

/**
 * X-Client-Id of a certificate that matches no declared partner: `cn:` and its CN (RFC 2253
 * escaped), or `subject:` and the whole subject when it has no CN. Declared partner ids may not
 * start with either prefix (the policy file is validated so), so a certificate whose CN equals a
 * partner id can never be taken for that partner by a service reading X-Client-Id alone.
 */
export function undeclaredClientId(identity: ClientIdentity): string {
  const cn = identity.commonNameRfc2253;
  return cn !== undefined && cn !== '' ? `cn:${cn}` : `subject:${identity.subject}`;
}

function gatewayHeaders(
  identity: ClientIdentity,
  partnerId: string,
  declared: boolean,
  pem: string,
  out: HeaderPair[],
): void {
  out.push(
    ['x-client-verify', 'SUCCESS'],
    ['x-client-subject', headerText(identity.subject)],
    ['x-client-issuer', headerText(identity.issuer)],
    ['x-client-serial', identity.serial],
    ['x-client-fingerprint-sha256', identity.fingerprint256],
  );
  if (identity.sanDns.length > 0) out.push(['x-client-san-dns', headerList(identity.sanDns)]);
  if (identity.sanUri.length > 0) out.push(['x-client-san-uri', headerList(identity.sanUri)]);
  if (identity.sanEmail.length > 0) out.push(['x-client-san-email', headerList(identity.sanEmail)]);
  out.push(
    ['x-client-not-after', isoSeconds(identity.notAfter)],
    ['x-client-id', headerText(partnerId)],
    ['x-client-declared', declared ? 'true' : 'false'],
    ['x-client-cert', urlEncodedPem(pem)],
  );
}

/**
 * RFC 7239 `Forwarded` for one hop: `for=192.0.2.7;proto=https`. An IPv6 address is written as
 * the RFC's section 6 says, bracketed and quoted (`for="[2001:db8::1]"`); an unknown one as
 * `for=unknown`. Only characters of an IP address reach the value, so nothing else can be added.
 */
export function forwardedValue(clientAddress: string): string {
  let node: string;
  if (/^[0-9.]+$/.test(clientAddress) && clientAddress !== '') node = clientAddress;
  else if (/^[0-9A-Fa-f:.]+$/.test(clientAddress) && clientAddress.includes(':'))
    node = `"[${clientAddress}]"`;
  else node = 'unknown';
  return `for=${node};proto=https`;
}

/**
 * Envoy's X-Forwarded-Client-Cert element for this client: Hash, Cert, Subject, URI, DNS (no By).
 *
 * `Subject` is the RFC 2253 DN between quotes, verbatim, as Envoy writes it: the DN already writes
 * `"` as `\"` and `\` as `\\` (and every other byte outside printable ASCII as `\XX`), which is
 * exactly XFCC's rule inside quotes, so escaping it again would change what a service moving from
 * Envoy reads. URI and DNS values are written bare as Envoy does; only a value holding `,;="`, `\`
 * or whitespace (which Envoy would let split the header) is quoted, so no SAN can add a key.
 */
function xfccHeader(identity: ClientIdentity, pem: string): string {
  const parts = [
    `Hash=${identity.fingerprint256}`,
    `Cert=${xfccValue(urlEncodedPem(pem), true)}`,
    // formatRfc2253 output is printable ASCII (bytes outside it are `\XX`): safe between quotes as is.
    `Subject="${identity.subject}"`,
  ];
  // As Envoy: one URI= per URI SAN, and an empty `URI=` when there is none; DNS= only when present.
  if (identity.sanUri.length === 0) parts.push('URI=');
  for (const uri of identity.sanUri) parts.push(`URI=${xfccValue(encodeUnsafe(uri, '"\\', true))}`);
  for (const dns of identity.sanDns) parts.push(`DNS=${xfccValue(encodeUnsafe(dns, '"\\', true))}`);
  return parts.join(';');
}

function albHeaders(identity: ClientIdentity, pem: string, out: HeaderPair[]): void {
  out.push(
    ['x-amzn-mtls-clientcert-serial-number', identity.serial],
    ['x-amzn-mtls-clientcert-issuer', headerText(identity.issuer)],
    ['x-amzn-mtls-clientcert-subject', headerText(identity.subject)],
    [
      'x-amzn-mtls-clientcert-validity',
      `NotBefore=${isoSeconds(identity.notBefore)};NotAfter=${isoSeconds(identity.notAfter)}`,
    ],
    ['x-amzn-mtls-clientcert-leaf', urlEncodedPem(pem, true)],
  );
}

/** RFC 8941 byte sequence. */
const sfBinary = (der: Uint8Array): string =>
  `:${Buffer.from(der.buffer, der.byteOffset, der.byteLength).toString('base64')}:`;

function rfc9440Headers(identity: ClientIdentity, out: HeaderPair[]): void {
  out.push(['client-cert', sfBinary(identity.leafDer)]);
  if (identity.chainDer.length > 0)
    out.push(['client-cert-chain', identity.chainDer.map(sfBinary).join(', ')]);
}

/**
 * The identity headers for the enabled formats, names lower-case, in a fixed order (formats in
 * the order given, each once). Computed once per connection and reused for every request.
 * `declared`: `partnerId` is a partner declared in the policy (X-Client-Declared: true).
 */
export function identityHeaders(
  identity: ClientIdentity,
  partnerId: string,
  formats: readonly HeaderFormat[],
  declared = false,
): readonly HeaderPair[] {
  const out: HeaderPair[] = [];
  const pem = pemOf(identity.leafDer);
  const done = new Set<HeaderFormat>();
  for (const format of formats) {
    if (done.has(format)) continue;
    done.add(format);
    switch (format) {
      case 'gateway':
        gatewayHeaders(identity, partnerId, declared, pem, out);
        break;
      case 'xfcc':
        out.push(['x-forwarded-client-cert', xfccHeader(identity, pem)]);
        break;
      case 'alb':
        albHeaders(identity, pem, out);
        break;
      case 'rfc9440':
        rfc9440Headers(identity, out);
        break;
      case 'forwarded':
        break; // per client address, added with X-Forwarded-For (proxy/upstream-headers.ts)
      default: {
        const never: never = format;
        throw new Error(`unknown identity header format ${String(never)}`);
      }
    }
  }
  return Object.freeze(out);
}
