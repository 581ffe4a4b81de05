/**
 * The unsolicited-1xx filter (src/proxy/interim-responses.ts): a 1xx block must never
 * swallow the head of the final response. A `100 Continue` ended by bare LFs (no CRLF CRLF) once
 * made the filter look for the next `\r\n\r\n`, the end of the final response's head: it removed
 * that head and handed the response BODY to undici as the response. An upstream body that
 * carries attacker text (an echo, a stored upload) then becomes the status and headers the partner
 * sees: response splitting through the gateway.
 */
import type { Socket } from 'node:net';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { clientAgent, startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { makeTestPki, type TestPki } from '../helpers/pki.js';
import { type ScriptedUpstream, startScriptedUpstream } from '../helpers/scripted-upstream.js';

/** Text in the upstream's body that looks like a response (what an attacker stored). */
const SMUGGLED =
  'HTTP/1.1 302 Found\r\nlocation: https://evil.example/\r\nx-smuggled: yes\r\ncontent-length: 0\r\n\r\n';

let pki: TestPki;
let gw: TestGateway;
let upstream: ScriptedUpstream;

function answer(socket: Socket, path: string): void {
  switch (path) {
    case '/lf-continue':
      // A 100 with bare-LF line ends (a sloppy stack), then a proper final response whose body
      // is attacker-controlled text.
      socket.write(
        `HTTP/1.1 100 Continue\n\nHTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: ${SMUGGLED.length}\r\n\r\n${SMUGGLED}`,
      );
      return;
    case '/lf-header-continue':
      // CRLF on the status line, a lone LF after a header line: still not a block to remove.
      socket.write(
        `HTTP/1.1 100 Continue\r\nx-trace: 1\n\r\nHTTP/1.1 200 OK\r\ncontent-length: ${SMUGGLED.length}\r\n\r\n${SMUGGLED}`,
      );
      return;
    case '/continue-with-headers':
      // A well-formed 100 with header lines, split across two writes: removed, the 200 relayed.
      socket.setNoDelay(true);
      socket.write('HTTP/1.1 100 Continue\r\nx-trace: 1\r', () =>
        socket.write('\n\r\nHTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok'),
      );
      return;
    case '/continue-then-two':
      // One request, two responses in one packet: the second must never reach another client.
      socket.write(
        'HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nhiHTTP/1.1 200 OK\r\ncontent-length: 4\r\n\r\nevil',
      );
      return;
    case '/upgrade':
      socket.write(
        'HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: upgrade\r\n\r\nraw-bytes',
      );
      return;
    default:
      socket.write('HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok');
  }
}

beforeAll(async () => {
  pki = await makeTestPki();
  upstream = await startScriptedUpstream(answer);
  const port = upstream.port;
  gw = await startTestGateway(pki, {
    GATEWAY_LOG_LEVEL: 'warn',
    GATEWAY_UPSTREAM: `http://127.0.0.1:${port}`,
    GATEWAY_UPSTREAM_TIMEOUT_SECONDS: '2',
  });
});
afterAll(async () => {
  await gw?.close();
  await upstream?.close();
  await pki?.cleanup();
});

describe('unsolicited 1xx filter never splits a response', () => {
  it('a bare-LF 100 never turns the upstream body into the response the partner sees', async () => {
    const agent = clientAgent(pki, 'partner-a');
    const res = await request(`${gw.url}/lf-continue`, { dispatcher: agent });
    const body = await res.body.text().catch(() => '');
    // Safe outcomes: a 502 (malformed interim), or the real 200 with the text as its body.
    // Broken: the body's fake head (302, location: evil) became the response.
    expect(res.headers['x-smuggled']).toBeUndefined();
    expect(res.headers.location).toBeUndefined();
    expect(res.statusCode === 502 || (res.statusCode === 200 && body === SMUGGLED)).toBe(true);
    await agent.close();
  });

  it('a lone LF on a header line of a 100 is left to undici, never a split response', async () => {
    const agent = clientAgent(pki, 'partner-a');
    const res = await request(`${gw.url}/lf-header-continue`, { dispatcher: agent });
    const body = await res.body.text().catch(() => '');
    expect(res.headers['x-smuggled']).toBeUndefined();
    expect(res.statusCode === 502 || (res.statusCode === 200 && body === SMUGGLED)).toBe(true);
    await agent.close();
  });

  it('a well-formed 100 with header lines, arriving in pieces, is removed and the 200 relayed', async () => {
    const agent = clientAgent(pki, 'partner-a');
    const res = await request(`${gw.url}/continue-with-headers`, { dispatcher: agent });
    expect(res.statusCode).toBe(200);
    expect(await res.body.text()).toBe('ok');
    await agent.close();
  });

  it('a second response behind a 100 never reaches the next request on the pooled connection', async () => {
    const a = clientAgent(pki, 'partner-a');
    const first = await request(`${gw.url}/continue-then-two`, { dispatcher: a });
    expect(first.statusCode).toBe(200);
    expect(await first.body.text()).toBe('hi');
    await a.close();
    const b = clientAgent(pki, 'partner-b');
    for (let i = 0; i < 3; i++) {
      const next = await request(`${gw.url}/plain`, { dispatcher: b });
      expect(await next.body.text()).toBe('ok');
    }
    await b.close();
  });

  it('an unsolicited 101 is a 502, never an upgrade relayed to the partner', async () => {
    const agent = clientAgent(pki, 'partner-a');
    const res = await request(`${gw.url}/upgrade`, { dispatcher: agent });
    const body = await res.body.text().catch(() => '');
    expect(res.statusCode).toBe(502);
    expect(body).not.toContain('raw-bytes');
    await agent.close();
  });
});
