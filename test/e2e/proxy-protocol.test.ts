/**
 * PROXY protocol from the NLB: with GATEWAY_PROXY_PROTOCOL=v2 the client address comes from the
 * header (logs, X-Forwarded-For), LOCAL health-check connections work, and a connection without a
 * valid header is refused; with it off, a connection that starts with a PROXY header is refused
 * loudly (a misconfigured target group), not mistaken for a TLS client.
 */
import { readFileSync } from 'node:fs';
import { connect as netConnect } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { afterEach, describe, expect, it } from 'vitest';
import { V2_SIGNATURE } from '../../src/tls/proxy-protocol.js';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { makeTestPki, type TestPki } from '../helpers/pki.js';

let pki: TestPki;
let gw: TestGateway;

afterEach(async () => {
  await gw?.close();
  await pki?.cleanup();
});

function v2Header(source: string, port: number, vpce?: string): Buffer {
  const body = Buffer.alloc(12);
  Buffer.from(source.split('.').map(Number)).copy(body, 0);
  Buffer.from([127, 0, 0, 1]).copy(body, 4);
  body.writeUInt16BE(port, 8);
  body.writeUInt16BE(443, 10);
  const tlvs = vpce
    ? Buffer.concat([Buffer.from([0xea, 0, vpce.length + 1, 0x01]), Buffer.from(vpce, 'latin1')])
    : Buffer.alloc(0);
  const head = Buffer.from([0x21, 0x11, 0, 0]);
  head.writeUInt16BE(body.length + tlvs.length, 2);
  return Buffer.concat([V2_SIGNATURE, head, body, tlvs]);
}

const LOCAL = Buffer.concat([V2_SIGNATURE, Buffer.from([0x20, 0x00, 0, 0])]);

/** Sends `prefix` in clear, then speaks TLS with client `name` and one HTTP request. */
function requestThrough(prefix: Buffer | undefined, name: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const raw = netConnect(gw.port, '127.0.0.1', () => {
      if (prefix) raw.write(prefix);
      const socket = tlsConnect({
        socket: raw,
        servername: 'localhost',
        ca: readFileSync(pki.path('root-ca.pem')),
        cert: readFileSync(pki.path(`${name}.pem`)),
        key: readFileSync(pki.path(`${name}-key.pem`)),
      });
      let out = '';
      socket.setEncoding('utf8');
      socket.on('secureConnect', () =>
        socket.write('GET /pp HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n'),
      );
      socket.on('data', (d: string) => {
        out += d;
      });
      socket.on('close', () => resolve(out));
      socket.on('error', (err) => (out ? resolve(out) : reject(err)));
    });
    raw.on('error', reject);
  });
}

describe('GATEWAY_PROXY_PROTOCOL=v2', () => {
  it('takes the client address from the header', async () => {
    pki = await makeTestPki();
    gw = await startTestGateway(pki, { GATEWAY_PROXY_PROTOCOL: 'v2' });
    const answer = await requestThrough(v2Header('203.0.113.7', 40000, 'vpce-0123abcd'), 'partner-a');
    expect(answer).toMatch(/^HTTP\/1\.1 200 /);
    expect(gw.upstream.seen.at(-1)?.headers['x-forwarded-for']).toBe('203.0.113.7');
    const log = await gw.logs.waitFor((l) => l.event === 'handshake' && l.result === 'success');
    expect(log.client).toBe('203.0.113.7');
    expect(log.client_port).toBe(40000);
    expect(log.vpce).toBe('vpce-0123abcd');
  });

  it('accepts LOCAL (load balancer health checks) with the socket address', async () => {
    pki = await makeTestPki();
    gw = await startTestGateway(pki, { GATEWAY_PROXY_PROTOCOL: 'v2' });
    expect(await requestThrough(LOCAL, 'partner-a')).toMatch(/^HTTP\/1\.1 200 /);
    expect(gw.upstream.seen.at(-1)?.headers['x-forwarded-for']).toBe('127.0.0.1');
  });

  it('refuses a connection without a header', async () => {
    pki = await makeTestPki();
    gw = await startTestGateway(pki, { GATEWAY_PROXY_PROTOCOL: 'v2' });
    await expect(requestThrough(undefined, 'partner-a')).rejects.toThrow();
    const log = await gw.logs.waitFor((l) => l.event === 'handshake' && l.reason === 'protocol');
    expect(String(log.detail)).toContain('PROXY protocol');
    expect(gw.upstream.seen).toHaveLength(0);
  });
});

describe('GATEWAY_PROXY_PROTOCOL=off', () => {
  it('refuses a connection that starts with a PROXY header, saying why', async () => {
    pki = await makeTestPki();
    gw = await startTestGateway(pki);
    await expect(requestThrough(v2Header('203.0.113.7', 40000), 'partner-a')).rejects.toThrow();
    const log = await gw.logs.waitFor((l) => l.event === 'handshake' && l.reason === 'protocol');
    expect(String(log.detail)).toContain('unexpected PROXY protocol header');
    expect(gw.upstream.seen).toHaveLength(0);
  });
});
