/**
 * GATEWAY_CONFIG=ssm:<name>: the real `serve` process and the real AWS SDK against a local server
 * speaking SSM's wire protocol. The policy comes from the (SecureString, decrypted) parameter,
 * follows a new version of it, keeps the policy in force when a new version is invalid, and a
 * missing parameter stops start-up naming GATEWAY_CONFIG.
 */
import { spawn } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config/config.js';
import { ParameterStoreError, parameterNameOf } from '../../src/config/parameter-store.js';
import { type EchoUpstream, startEchoUpstream } from '../../src/dev/echo-upstream.js';
import { clientAgent, get } from '../helpers/gateway.js';
import { gatewayEnv, makeTestPki, type TestPki } from '../helpers/pki.js';
import { CLI, type ServeProcess, startServe } from '../helpers/serve-process.js';
import { SsmServer } from '../helpers/ssm-server.js';

const NAME = '/mtls-gateway/policy';

function policy(receiptsAllow: string[]): string {
  return JSON.stringify({
    partners: [
      { id: 'acme', match: { commonName: 'partner-a' } },
      { id: 'beta', match: { commonName: 'partner-b' } },
    ],
    routes: [{ name: 'receipts', prefix: '/receipts', allow: receiptsAllow }],
  });
}

let pki: TestPki;
let upstream: EchoUpstream;
let ssm: SsmServer;
beforeAll(async () => {
  pki = await makeTestPki();
  upstream = await startEchoUpstream('127.0.0.1', 0);
  ssm = await SsmServer.start();
});
afterAll(async () => {
  await ssm.close();
  await upstream.close();
  await pki.cleanup();
});

describe('parameterNameOf', () => {
  it('takes ssm:<name>, leaves file paths alone, refuses a malformed name', () => {
    expect(parameterNameOf('ssm:/mtls-gateway/policy')).toBe('/mtls-gateway/policy');
    expect(parameterNameOf('config/gateway.json')).toBeUndefined();
    expect(() => parameterNameOf('ssm:bad name')).toThrow(ParameterStoreError);
    expect(() => parameterNameOf('ssm:')).toThrow(/not a valid parameter name/);
  });

  it('loadConfig refuses ssm: outside serve (it would otherwise run without the policy)', () => {
    expect(() => loadConfig({ GATEWAY_CONFIG: `ssm:${NAME}` })).toThrow(ConfigError);
  });
});

describe('serve with GATEWAY_CONFIG=ssm:<name>', () => {
  let gw: ServeProcess;
  afterAll(async () => {
    if (gw && gw.child.exitCode === null) {
      gw.child.kill('SIGTERM');
      await gw.exited;
    }
  });

  it('enforces the parameter, follows a new version, keeps the policy on an invalid one', async () => {
    ssm.put(NAME, policy(['acme']));
    gw = await startServe(pki, upstream.port, {
      ...ssm.env(),
      GATEWAY_CONFIG: `ssm:${NAME}`,
      GATEWAY_TRUST_REFRESH_SECONDS: '1',
    });
    const url = `https://localhost:${gw.tlsPort}/receipts/1`;
    expect((await get(url, clientAgent(pki, 'partner-a'))).status).toBe(200);
    expect((await get(url, clientAgent(pki, 'partner-b'))).status).toBe(403);
    // SecureString: asked for decrypted, as the task role reads it.
    expect(ssm.calls[0]).toEqual({ operation: 'GetParameter', body: { Name: NAME, WithDecryption: true } });

    const changed = gw.lines.length;
    ssm.put(NAME, policy(['acme', 'beta']));
    await gw.waitLog(
      (l) => l.msg === 'GATEWAY_CONFIG parameter changed; the policy reloads from it',
      changed,
    );
    await gw.waitLog((l) => l.msg === 'GATEWAY_CONFIG reloaded', changed);
    expect((await get(url, clientAgent(pki, 'partner-b'))).status).toBe(200);

    const broken = gw.lines.length;
    ssm.put(NAME, '{"routes": [{"name": "receipts", "prefix": "/receipts", "allow": "everyone"}]}');
    const rejected = await gw.waitLog(
      (l) => l.msg === 'GATEWAY_CONFIG parameter not taken; the policy in force is kept',
      broken,
    );
    expect(String(rejected.error)).toContain('allow');
    expect(rejected.parameter).toBe(NAME);
    expect((await get(url, clientAgent(pki, 'partner-b'))).status).toBe(200);
    expect((await get(url, clientAgent(pki, 'partner-a'))).status).toBe(200);
  }, 30_000);

  it('stops start-up (exit 2) naming GATEWAY_CONFIG when the parameter does not exist', async () => {
    const child = spawn(process.execPath, [CLI, 'serve'], {
      env: {
        PATH: process.env.PATH,
        ...gatewayEnv(pki, upstream.port),
        ...ssm.env(),
        GATEWAY_CONFIG: 'ssm:/mtls-gateway/missing',
      },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    const code = await new Promise((r) => child.once('exit', r));
    expect(code).toBe(2);
    expect(stderr).toContain(
      'configuration error: GATEWAY_CONFIG: ssm:/mtls-gateway/missing: ParameterNotFound',
    );
  });
});
