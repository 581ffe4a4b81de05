/**
 * The demo upstream for `npm start` and tests: answers JSON with the method, path and headers it
 * received, so anyone can see exactly which identity headers the gateway sent. Development only.
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface EchoRecord {
  readonly method: string;
  readonly path: string;
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
  readonly rawHeaders: readonly string[];
  readonly bodyBytes: number;
}

export interface EchoUpstream {
  readonly server: Server;
  readonly port: number;
  /** Every request seen, in order (tests assert on it). */
  readonly seen: EchoRecord[];
  close(): Promise<void>;
}

export async function startEchoUpstream(host = '127.0.0.1', port = 8081): Promise<EchoUpstream> {
  const seen: EchoRecord[] = [];
  const server = createServer((req: IncomingMessage, res) => {
    let bodyBytes = 0;
    req.on('data', (chunk: Buffer) => {
      bodyBytes += chunk.length;
    });
    req.on('end', () => {
      const record: EchoRecord = {
        method: req.method ?? '',
        path: req.url ?? '',
        headers: req.headers,
        rawHeaders: req.rawHeaders,
        bodyBytes,
      };
      seen.push(record);
      const body = JSON.stringify(
        { method: record.method, path: record.path, headers: record.headers, bodyBytes },
        null,
        2,
      );
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
      res.end(body);
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host, port }, () => resolve());
  });
  return {
    server,
    port: (server.address() as AddressInfo).port,
    seen,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
