/**
 * Dotted header names (issue 14 follow-up): PHP registers every `$_SERVER` name through
 * php_register_variable, which turns `.` (and space) into `_`, so `X.Forwarded.Host` (a valid
 * token) reaches PHP as `HTTP_X_FORWARDED_HOST`, exactly as `X-Forwarded-Host` would; where the
 * gateway sends no header of that name (`X-Forwarded-Host`, `X-Real-IP`, `X-Original-URL`,
 * `X-Client-San-Email` for a certificate without an email SAN, a disabled format's headers), the
 * client's value would be the only one. The gateway reads `.` as `-` when comparing names and, by
 * default, drops every name holding `.` or `_`. Proved against a real PHP built-in server
 * (`php -S`; `.ci/run` installs `php-cli` where it is missing).
 */ import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rawExchange, startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { makeTestPki, type TestPki } from '../helpers/pki.js';

const ROUTER = `<?php
$seen = [];
foreach ($_SERVER as $k => $v) if (str_starts_with($k, 'HTTP_')) $seen[$k] = $v;
$body = json_encode($seen);
header('Content-Type: application/json');
header('Content-Length: ' . strlen($body));
echo $body;
`;

let pki: TestPki;
let gw: TestGateway;
let php: ChildProcess;
let dir: string;

function startPhp(router: string): Promise<{ child: ChildProcess; port: number }> {
  const child = spawn('php', ['-S', '127.0.0.1:0', router], { stdio: ['ignore', 'ignore', 'pipe'] });
  return new Promise((resolve, reject) => {
    let err = '';
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`php -S exited with ${code}: ${err}`)));
    child.stderr!.setEncoding('utf8');
    child.stderr!.on('data', (chunk: string) => {
      err += chunk;
      const m = /Development Server \(http:\/\/127\.0\.0\.1:(\d+)\) started/.exec(err);
      if (m) {
        child.removeAllListeners('exit');
        resolve({ child, port: Number(m[1]) });
      }
    });
  });
}

beforeAll(async () => {
  pki = await makeTestPki();
  dir = await mkdtemp(join(tmpdir(), 'gateway-php-'));
  await writeFile(join(dir, 'router.php'), ROUTER);
  const started = await startPhp(join(dir, 'router.php'));
  php = started.child;
  gw = await startTestGateway(pki, {
    GATEWAY_UPSTREAM: `http://127.0.0.1:${started.port}`,
    GATEWAY_LOG_LEVEL: 'info',
  });
});
afterAll(async () => {
  await gw?.close();
  php?.kill();
  if (dir) await rm(dir, { recursive: true, force: true });
  await pki?.cleanup();
});

async function serverVars(headers: readonly string[]): Promise<Record<string, string>> {
  const raw = await rawExchange(
    pki,
    'partner-a',
    gw.port,
    `GET /receipts HTTP/1.1\r\nHost: localhost\r\n${headers.map((h) => `${h}\r\n`).join('')}Connection: close\r\n\r\n`,
  );
  expect(raw.startsWith('HTTP/1.1 200')).toBe(true);
  return JSON.parse(raw.slice(raw.indexOf('\r\n\r\n') + 4)) as Record<string, string>;
}

describe('a header name with `.` is not read by PHP as an identity or forwarding header', () => {
  it('control: the gateway identity reaches PHP', async () => {
    const vars = await serverVars([]);
    expect(vars.HTTP_X_CLIENT_ID).toBe('cn:partner-a');
    expect(vars.HTTP_X_CLIENT_SAN_EMAIL).toBeUndefined();
  });

  for (const [header, key] of [
    ['X.Forwarded.Host: admin.internal', 'HTTP_X_FORWARDED_HOST'],
    ['X.Real.IP: 10.0.0.1', 'HTTP_X_REAL_IP'],
    ['X.Original.URL: /admin/users', 'HTTP_X_ORIGINAL_URL'],
    ['X.Client.San.Email: admin@receipts.example', 'HTTP_X_CLIENT_SAN_EMAIL'],
    ['X.Amzn.Mtls.Clientcert.Subject: CN=admin', 'HTTP_X_AMZN_MTLS_CLIENTCERT_SUBJECT'],
  ] as const) {
    it(`${header} does not become ${key}`, async () => {
      const vars = await serverVars([header]);
      expect(vars[key]).toBeUndefined();
    });
  }

  it('by default any header name with `.` is dropped, as nginx ignore_invalid_headers does', async () => {
    const vars = await serverVars(['X.Trace.Tag: t1', 'X-Trace-Other: t2']);
    expect(vars.HTTP_X_TRACE_TAG).toBeUndefined();
    expect(vars.HTTP_X_TRACE_OTHER).toBe('t2');
  });
});
