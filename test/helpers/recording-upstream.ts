/**
 * An HTTP upstream that records every request head (as the echo upstream does) and leaves the
 * answer to the test: hold a response open, stream it, or answer later.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { EchoRecord, EchoUpstream } from '../../src/dev/echo-upstream.js';

/** Listens on an ephemeral loopback port; `answer` runs for each request once its head is recorded. */
export async function startRecordingUpstream(
  answer: (req: IncomingMessage, res: ServerResponse) => void,
): Promise<EchoUpstream> {
  const seen: EchoRecord[] = [];
  const server = createServer((req, res) => {
    seen.push({
      method: req.method ?? '',
      path: req.url ?? '',
      headers: req.headers,
      rawHeaders: req.rawHeaders,
      bodyBytes: 0,
    });
    answer(req, res);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    server,
    port: (server.address() as AddressInfo).port,
    seen,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}
