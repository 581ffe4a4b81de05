/**
 * Raw TLS clients for tests that must control the bytes or the connection itself (keep-alive
 * reuse, pipelining, a connection the gateway closes after its handshake), which HTTP clients hide.
 */
import { readFileSync } from 'node:fs';
import { connect as netConnect, type Socket } from 'node:net';
import { type ConnectionOptions, connect, type TLSSocket } from 'node:tls';
import type { TestPki } from './pki.js';

/** A TLS connection to `port` trusting the test PKI's root and presenting client `name`. */
export function rawTlsConnect(
  pki: TestPki,
  port: number,
  name: string,
  extra: ConnectionOptions = {},
): TLSSocket {
  return connect({
    port,
    host: '127.0.0.1',
    servername: 'localhost',
    ca: readFileSync(pki.path('root-ca.pem')),
    cert: readFileSync(pki.path(`${name}.pem`)),
    key: readFileSync(pki.path(`${name}-key.pem`)),
    ...extra,
  });
}

/** The next complete response (head and content-length body) read from `s`; rejects if it closes first. */
export function nextResponse(s: TLSSocket): Promise<string> {
  return new Promise((resolve, reject) => {
    let buf = '';
    const onData = (d: Buffer | string): void => {
      buf += typeof d === 'string' ? d : d.toString('latin1');
      const end = buf.indexOf('\r\n\r\n');
      if (end < 0) return;
      const len = Number(/content-length: (\d+)/i.exec(buf.slice(0, end))?.[1] ?? 0);
      if (buf.length < end + 4 + len) return;
      s.off('data', onData);
      s.off('close', onClose);
      resolve(buf);
    };
    const onClose = (): void => reject(new Error('closed'));
    s.on('data', onData);
    s.once('close', onClose);
  });
}

/**
 * A new connection as `name` (pushed onto `open`, for the caller to close) that sends one request:
 * true if the gateway kept it and served 200, false if it closed it after the handshake.
 */
export function servedOnNewConnection(
  pki: TestPki,
  port: number,
  name: string,
  open: TLSSocket[],
): Promise<boolean> {
  return new Promise((resolve) => {
    const s = rawTlsConnect(pki, port, name);
    open.push(s);
    s.on('error', () => resolve(false));
    s.once('close', () => resolve(false));
    // A refused connection is closed right after the handshake; a kept one answers a request.
    s.once('secureConnect', () => {
      s.write('GET /probe HTTP/1.1\r\nHost: localhost\r\n\r\n');
      s.once('data', (d: Buffer) => resolve(d.toString('latin1').startsWith('HTTP/1.1 200')));
    });
  });
}

/**
 * A TCP connection to `port` that sends `bytes` (or nothing) and then stays idle, as an attacker
 * holding an unauthenticated slot would; pushed onto `open` for the caller to destroy. The
 * gateway cutting it is the point, so its later errors are ignored.
 */
export function idleSocket(port: number, open: Socket[], bytes?: Buffer): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = netConnect({ port, host: '127.0.0.1' }, () => {
      if (bytes) s.write(bytes);
      resolve(s);
    });
    open.push(s);
    s.on('error', () => undefined);
    s.once('error', reject);
  });
}
