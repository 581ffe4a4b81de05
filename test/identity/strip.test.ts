/**
 * The strip lists: every identity header name of every format is recognised (after lower-casing,
 * as the proxy does), look-alikes are not, and hop-by-hop names include what Connection lists.
 */
import { describe, expect, it } from 'vitest';
import {
  HOP_BY_HOP,
  hasDashAlias,
  headerKey,
  hopByHopNames,
  isForwardingHeader,
  isHopByHop,
  isIdentityHeader,
} from '../../src/identity/strip.js';

const IDENTITY = [
  'X-Client-Verify',
  'X-Client-Subject',
  'X-Client-Issuer',
  'X-Client-Serial',
  'X-Client-Fingerprint-SHA256',
  'X-Client-SAN-DNS',
  'X-Client-SAN-URI',
  'X-Client-SAN-Email',
  'X-Client-Not-After',
  'X-Client-Id',
  'X-Client-Cert',
  'x-client-anything-new',
  'X-Forwarded-Client-Cert',
  'X-Amzn-Mtls-Clientcert-Serial-Number',
  'X-Amzn-Mtls-Clientcert-Issuer',
  'X-Amzn-Mtls-Clientcert-Subject',
  'X-Amzn-Mtls-Clientcert-Validity',
  'X-Amzn-Mtls-Clientcert-Leaf',
  'X-AMZN-MTLS-CLIENTCERT',
  'Client-Cert',
  'Client-Cert-Chain',
  'X-Forwarded-Tls-Client-Cert',
  'X-Forwarded-Tls-Client-Cert-Info',
  'X-SSL-Client-Cert',
  'x-ssl-client-s-dn',
  'x_client_id',
  'X_SSL_Client_S_DN',
  'Client_Cert',
  'X_Amzn_Mtls_Clientcert_Subject',
  'x-forwarded_client-cert',
  // other proxies' client-certificate headers (finding 4), and `.` read as `-` (PHP, finding 3)
  'X-SSL-Cert',
  'X-SSL-Subject',
  'x-ssl-client',
  'x-ssl-cipher',
  'SSL-Client-Cert',
  'SSL_CLIENT_CERT',
  'ssl_client_escaped_cert',
  'SSL_CLIENT_S_DN',
  'X-ARR-ClientCert',
  'X.Client.San.Email',
  'X.Amzn.Mtls.Clientcert.Subject',
  // Cloudflare's mTLS headers
  'Cf-Cert-Verified',
  'Cf-Cert-Subject-DN',
  'cf_cert_issuer_dn',
];

const NOT_IDENTITY = [
  'x-clientele',
  'x-client',
  'x-clients-id',
  'client-certs',
  'client-cert-chains',
  'client',
  'x-forwarded-client-cert-extra',
  'x-forwarded-client',
  'x-forwarded-for',
  'x-forwarded-tls',
  'x-amzn-mtls',
  'x-amzn-trace-id',
  'ssl-client',
  'x-ssl',
  'x-arr-clientcerts',
  'xx-client-id',
  'cf-cert',
  'cf-connecting-ip',
  'x-cf-cert-verified',
  'x-custom',
  'ssl',
  'authorization',
  'content-type',
  '',
  'x',
  'x-',
];

describe('isIdentityHeader', () => {
  it('recognises every header of every format, whatever case the client used', () => {
    for (const name of IDENTITY)
      expect({ name, strip: isIdentityHeader(name) }).toEqual({ name, strip: true });
  });

  it('leaves look-alikes alone', () => {
    for (const name of NOT_IDENTITY)
      expect({ name, strip: isIdentityHeader(name) }).toEqual({ name, strip: false });
  });
});

describe('hop-by-hop', () => {
  it('has the fixed set and adds what Connection lists, lower-cased and trimmed', () => {
    for (const n of ['connection', 'keep-alive', 'te', 'trailer', 'transfer-encoding', 'upgrade']) {
      expect(HOP_BY_HOP.has(n)).toBe(true);
    }
    const names = hopByHopNames(' Keep-Alive , X-Secret-Thing,,close ');
    expect(names.has('x-secret-thing')).toBe(true);
    expect(names.has('close')).toBe(true);
    expect(names.has('te')).toBe(true);
    expect(names.has('')).toBe(false);
    expect(hopByHopNames(undefined)).toBe(HOP_BY_HOP);
    expect(hopByHopNames('')).toBe(HOP_BY_HOP);
    expect(HOP_BY_HOP.has('x-secret-thing')).toBe(false);
  });

  it('allocates no set per request for the common Connection values, in any case', () => {
    for (const value of ['keep-alive', 'Keep-Alive', 'close', 'CLOSE'])
      expect(hopByHopNames(value)).toBe(HOP_BY_HOP);
    const listed = hopByHopNames('Upgrade, X-Hop');
    expect(listed).not.toBe(HOP_BY_HOP);
    expect([...listed].filter((n) => !HOP_BY_HOP.has(n))).toEqual(['x-hop']);
  });

  it('treats every proxy-* header as hop-by-hop', () => {
    expect(isHopByHop('proxy-authorization')).toBe(true);
    expect(isHopByHop('proxy-anything')).toBe(true);
    expect(isHopByHop('x-secret', hopByHopNames('x-secret'))).toBe(true);
    expect(isHopByHop('proxyish')).toBe(false);
    expect(isHopByHop('content-type')).toBe(false);
  });
});

describe('one normalized form for header names', () => {
  it('hasDashAlias is true exactly for names holding `_` or `.`', () => {
    expect(hasDashAlias('x_client_id')).toBe(true);
    expect(hasDashAlias('x.client.id')).toBe(true);
    expect(hasDashAlias('x-client-id')).toBe(false);
    expect(hasDashAlias('plain')).toBe(false);
  });

  it('headerKey lower-cases and reads _ and . as -, as CGI/WSGI, PHP and nginx with underscores_in_headers do', () => {
    expect(headerKey('X_Client_Id')).toBe('x-client-id');
    expect(headerKey('X.Forwarded.Host')).toBe('x-forwarded-host');
    expect(headerKey('X.Client_Id')).toBe('x-client-id');
    expect(headerKey('X-Forwarded-For')).toBe('x-forwarded-for');
    expect(headerKey('plain')).toBe('plain');
  });

  it('recognises every forwarding header in any spelling, and not look-alikes', () => {
    for (const name of [
      'Forwarded',
      'X-Real-IP',
      'X_Real_Ip',
      'X-Forwarded-For',
      'X-Forwarded-Host',
      'x_forwarded_port',
      'X-Forwarded-Proto',
      'X-Forwarded-Prefix',
      'X-Original-URL',
      'X_Original_Url',
      'X-Rewrite-URL',
      'True-Client-IP',
      'X.Forwarded.Host',
      'X.Real.IP',
      'X.Original.URL',
      'Client-IP',
      'X-Cluster-Client-IP',
      'CF-Connecting-IP',
      'Fastly-Client-IP',
      'X-Forwarded',
      'Forwarded-For',
      'X-ProxyUser-IP',
      'X-Envoy-External-Address',
      'X-Envoy-Internal',
      'x_envoy_original_path',
      'X-Original-Host',
      'X-HTTP-Method-Override',
      'X-HTTP-Method',
      'X_Method_Override',
      'X-Method-Override',
      'X-Client-IP',
      'X-Script-Name',
      'Script-Name',
      'X-AppEngine-User-IP',
      'CF-Pseudo-IPv4',
      'Fly-Client-IP',
    ]) {
      expect({ name, strip: isForwardingHeader(name) }).toEqual({ name, strip: true });
    }
    for (const name of [
      'forwarded-x',
      'x-forwardeds',
      'x-real',
      'x-original',
      'x-rewrite',
      'x-envoy',
      'x-http-methods',
      'client-ips',
      'content-type',
      'script',
      'true-client',
      'authorization',
      'host',
      'accept',
    ]) {
      expect({ name, strip: isForwardingHeader(name) }).toEqual({ name, strip: false });
    }
  });
});
