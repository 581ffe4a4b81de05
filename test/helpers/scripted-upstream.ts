/**
 * A raw TCP upstream that answers by script, for faults no HTTP server library would produce
 * (resets mid-body, bare-LF interim responses, garbage status lines, silence).
 */
import { createServer, type Socket } from 'node:net';

export interface ScriptedUpstream {
  readonly port: number;
  /** Destroys every connection it accepted (answered, held or not) and stops listening. */
  close(): Promise<void>;
}

/**
 * Listens on an ephemeral loopback port and calls `answer(socket, path)` for each request head
 * it reads, pipelined ones included, in order. Request bodies are not read.
 */
export async function startScriptedUpstream(
  answer: (socket: Socket, path: string) => void,
): Promise<ScriptedUpstream> {
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    let head = '';
    socket.on('data', (d: Buffer) => {
      head += d.toString('latin1');
      while (head.includes('\r\n\r\n')) {
        const end = head.indexOf('\r\n\r\n');
        const path = head.slice(0, end).split(' ')[1] ?? '/';
        head = head.slice(end + 4);
        answer(socket, path);
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as { port: number }).port,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise((r) => server.close(r));
    },
  };
}
