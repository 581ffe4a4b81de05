/**
 * No secret in a source or upstream URL is shown (issue 14 follow-up): every spelling a URL parser
 * reads as userinfo or query is redacted wherever the gateway names a URL:
 * - an `s3://` source is named (`describeSource`: logs, `/trust` `source` and `last_rejected`)
 *   through redactUrl, so `s3://bucket/key?X-Amz-Signature=…` and `s3://user:secret@bucket/key`
 *   never show their secret, nor does the configuration error for an `s3://` source without a key;
 * - `http:/user:secret@host:port` (one slash, which WHATWG URL parsing reads as `http://`) in
 *   GATEWAY_UPSTREAM, a route's `upstream` in GATEWAY_CONFIG, or a CRL source.
 */
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config/config.js';
import { GatewayConfigFileError, parseGatewayConfig } from '../../src/config/gateway-config-file.js';
import { describeSource, redactUrl, redactUrlsIn } from '../../src/trust/sources/index.js';

const SECRET = 'Zm9vYmFyc2VjcmV0c2lnbmF0dXJl';

function configError(env: Record<string, string>): string {
  try {
    loadConfig(env);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as Error).message;
  }
  throw new Error('loadConfig accepted it');
}

describe('no secret in a source or upstream URL is shown', () => {
  for (const text of [
    `s3://receipts-crl/crl.pem?X-Amz-Signature=${SECRET}`,
    `s3://reader:${SECRET}@receipts-crl/crl.pem`,
  ]) {
    it(`${text.replace(SECRET, '…')} is named without its secret (logs, /trust)`, () => {
      const config = loadConfig({ GATEWAY_CRLS: text });
      const shown = config.crls.map((s) => describeSource(s)).join(' ');
      expect(shown).toContain('s3://');
      expect(shown).not.toContain(SECRET);
    });
  }

  it('the error for an s3:// source without a key does not quote its query', () => {
    const message = configError({ GATEWAY_CRLS: `s3://receipts-crl?X-Amz-Signature=${SECRET}` });
    expect(message).toMatch(/^GATEWAY_CRLS: /);
    expect(message).not.toContain(SECRET);
  });

  it('the error for GATEWAY_UPSTREAM http:/user:secret@host does not quote the password', () => {
    const message = configError({ GATEWAY_UPSTREAM: `http:/svc:${SECRET}@127.0.0.1:8080` });
    expect(message).toMatch(/^GATEWAY_UPSTREAM: /);
    expect(message).not.toContain(SECRET);
  });

  for (const spelling of ['http:/', 'http:', 'http:\\\\', 'http:///']) {
    it(`the error for GATEWAY_UPSTREAM ${spelling}user:secret@host does not quote the password`, () => {
      const message = configError({ GATEWAY_UPSTREAM: `${spelling}svc:${SECRET}@127.0.0.1:8080` });
      expect(message).toMatch(/^GATEWAY_UPSTREAM: /);
      expect(message).not.toContain(SECRET);
    });
  }

  it('a CRL source spelled https:/ is refused without quoting its userinfo or query', () => {
    const message = configError({ GATEWAY_CRLS: `https:/reader:${SECRET}@crl.example/c?sig=${SECRET}` });
    expect(message).toMatch(/^GATEWAY_CRLS: .*two slashes/);
    expect(message).not.toContain(SECRET);
  });

  it("a route's upstream in GATEWAY_CONFIG is quoted without its password", () => {
    for (const upstream of [`http://svc:${SECRET}@10.0.1.5:8080`, `http:/svc:${SECRET}@10.0.1.5:8080`]) {
      let message = '';
      try {
        parseGatewayConfig(JSON.stringify({ routes: [{ name: 'r', prefix: '/', upstream, allow: ['*'] }] }));
      } catch (err) {
        expect(err).toBeInstanceOf(GatewayConfigFileError);
        message = (err as Error).message;
      }
      expect(message).toMatch(/routes\[0\]\.upstream/);
      expect(message).not.toContain(SECRET);
    }
  });

  it('redactUrl hides what the URL parser reads as userinfo, whatever the spelling', () => {
    expect(redactUrl(`http:/svc:${SECRET}@h:1/p`)).toBe('http:/[redacted]@h:1/p');
    expect(redactUrl(`s3://r:${SECRET}@bucket/k?x=1`)).toBe('s3://[redacted]@bucket/k?[redacted]');
    // A tab inside the userinfo is removed by the parser: the parsed URL is shown, redacted.
    expect(redactUrl(`http://svc:${SECRET}\t@h/p`)).not.toContain(SECRET);
    expect(redactUrl(`http:\\\\svc:${SECRET}@h/p`)).not.toContain(SECRET);
    expect(redactUrlsIn(`GET http:/svc:${SECRET}@h/p failed`)).toBe('GET http:/[redacted]@h/p failed');
  });
});
