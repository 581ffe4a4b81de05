/**
 * Configuration: every mistake stops start-up with one line naming the variable; production
 * refuses development defaults. (That the real CLI exits 2 on one: test/cli/serve-config-error.test.ts.)
 */
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config/config.js';

function errorOf(env: Record<string, string>): ConfigError {
  try {
    loadConfig(env, '/srv');
  } catch (err) {
    if (err instanceof ConfigError) return err;
    throw err;
  }
  throw new Error('expected a ConfigError');
}

describe('loadConfig', () => {
  it('gives the development defaults of design.md', () => {
    const c = loadConfig({}, '/srv');
    expect(c.listen).toEqual({ host: '0.0.0.0', port: 8443 });
    expect(c.adminListen).toEqual({ host: '127.0.0.1', port: 9090 });
    expect(c.caBundle).toEqual({ kind: 'file', path: '/srv/certs-dev/ca-bundle.pem' });
    expect(c.crls).toEqual([{ kind: 'file', path: '/srv/certs-dev/crl.pem' }]);
    expect(c.upstream.origin).toBe('http://127.0.0.1:8081');
    expect(c.verifyMode).toBe('strict');
    expect(c.logFormat).toBe('native');
    expect(loadConfig({ GATEWAY_LOG_FORMAT: 'ecs' }, '/srv').logFormat).toBe('ecs');
    expect(c.identityHeaders).toEqual(['gateway']);
    expect([c.trustRefreshSeconds, c.crlGraceSeconds, c.drainSeconds]).toEqual([30, 0, 20]);
    expect([c.maxHeaderBytes, c.maxHeaders]).toEqual([16384, 100]);
  });

  it('parses sources of every kind', () => {
    const c = loadConfig(
      {
        GATEWAY_CA_BUNDLE: 'secretsmanager:arn:aws:secretsmanager:eu-west-1:1:secret:ca',
        GATEWAY_CRLS: '/etc/crl.pem, https://pki.example/int.crl,s3://bucket/path/root.crl',
        GATEWAY_LISTEN: '[::]:443',
      },
      '/srv',
    );
    expect(c.caBundle).toEqual({
      kind: 'secretsmanager',
      secretId: 'arn:aws:secretsmanager:eu-west-1:1:secret:ca',
    });
    expect(c.crls).toEqual([
      { kind: 'file', path: '/etc/crl.pem' },
      { kind: 'https', url: 'https://pki.example/int.crl' },
      { kind: 's3', bucket: 'bucket', key: 'path/root.crl' },
    ]);
    expect(c.listen).toEqual({ host: '::', port: 443 });
  });

  it.each([
    [{ GATEWAY_LISTEN: '8443' }, 'GATEWAY_LISTEN', 'host:port'],
    [{ GATEWAY_ADMIN_LISTEN: 'localhost:99999' }, 'GATEWAY_ADMIN_LISTEN', 'host:port'],
    [{ GATEWAY_TRUST_REFRESH_SECONDS: 'soon' }, 'GATEWAY_TRUST_REFRESH_SECONDS', 'whole number'],
    [{ GATEWAY_DRAIN_SECONDS: '-1' }, 'GATEWAY_DRAIN_SECONDS', 'between 0'],
    [{ GATEWAY_CRL_REQUIRED: 'yes' }, 'GATEWAY_CRL_REQUIRED', 'true or false'],
    [{ GATEWAY_VERIFY_MODE: 'lenient' }, 'GATEWAY_VERIFY_MODE', 'strict, explain'],
    [{ GATEWAY_IDENTITY_HEADERS: 'gateway,istio' }, 'GATEWAY_IDENTITY_HEADERS', "'istio'"],
    [{ GATEWAY_UPSTREAM: 'ftp://x' }, 'GATEWAY_UPSTREAM', 'http://'],
    [{ GATEWAY_UPSTREAM: 'http://x:80/base' }, 'GATEWAY_UPSTREAM', 'origin only'],
    [{ GATEWAY_CA_BUNDLE: 'https://example/ca.pem' }, 'GATEWAY_CA_BUNDLE', 'CRLs only'],
    [{ GATEWAY_CA_BUNDLE: 'secretsmanager:' }, 'GATEWAY_CA_BUNDLE', 'secret name'],
    [{ GATEWAY_CRLS: 'ldap://x/y' }, 'GATEWAY_CRLS', 'unsupported scheme'],
    [{ GATEWAY_LOG_LEVEL: 'loud' }, 'GATEWAY_LOG_LEVEL', 'must be one of'],
    [{ GATEWAY_LOG_FORMAT: 'json' }, 'GATEWAY_LOG_FORMAT', "'json' must be one of native, ecs"],
    [{ GATEWAY_CRL_REQUIERD: 'true' }, 'GATEWAY_CRL_REQUIERD', 'not a known setting'],
    [{ GATEWAY_UNDERSCORE_HEADERS: 'yes' }, 'GATEWAY_UNDERSCORE_HEADERS', 'drop, allow'],
    [{ GATEWAY_MAX_HANDSHAKING_CONNECTIONS: '0' }, 'GATEWAY_MAX_HANDSHAKING_CONNECTIONS', 'between 1'],
  ])('refuses %o naming the variable', (env, variable, text) => {
    const err = errorOf(env);
    expect(err.variable).toBe(variable);
    expect(err.message.startsWith(`${variable}: `)).toBe(true);
    expect(err.message).toContain(text);
  });

  it('requires every source explicitly in production and refuses development material', () => {
    expect(errorOf({ NODE_ENV: 'production' }).variable).toBe('GATEWAY_SERVER_CERT');
    const env = {
      NODE_ENV: 'production',
      GATEWAY_SERVER_CERT: '/run/tls/server.pem',
      GATEWAY_SERVER_KEY: '/run/tls/key.pem',
      GATEWAY_CA_BUNDLE: 'secretsmanager:partner-ca',
      GATEWAY_CRLS: 's3://pki/int.crl',
      GATEWAY_UPSTREAM: 'http://receipts.internal:8080',
    };
    expect(loadConfig(env, '/srv').production).toBe(true);
    const dev = errorOf({ ...env, GATEWAY_CA_BUNDLE: 'certs-dev/ca-bundle.pem' });
    expect(dev.variable).toBe('GATEWAY_CA_BUNDLE');
    expect(dev.message).toContain('development material');
  });
});
