/**
 * The one count of requests in flight, for the drain. Each request is counted once when the handler
 * receives it and released exactly once, on the first of its response's or its socket's `close`
 * (a response queued behind one that closed the connection never emits its own): however many of
 * finish, error, abort and close events arrive, and in whatever order, the count cannot drift.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';

export class InFlightRequests {
  private count = 0;
  private readonly idleWaiters: (() => void)[] = [];
  /** Connections with a request in flight, and how many (pipelined) each has. */
  private readonly perSocket = new Map<Socket, number>();

  get size(): number {
    return this.count;
  }

  /** The connections that have a response in flight (re-judged when trust changes). */
  connections(): IterableIterator<Socket> {
    return this.perSocket.keys();
  }

  /** Counts `req` until its response or its connection closes. */
  track(req: IncomingMessage, res: ServerResponse): void {
    this.count++;
    const socket = req.socket;
    this.perSocket.set(socket, (this.perSocket.get(socket) ?? 0) + 1);
    let released = false;
    const release = (): void => {
      // Both emitters may fire in one tick (an emit runs a copy of its listener list, so removing
      // a listener does not stop it): the flag, not the listener bookkeeping, makes it once.
      if (released) return;
      released = true;
      res.off('close', release);
      socket.off('close', release);
      this.count--;
      const left = (this.perSocket.get(socket) ?? 1) - 1;
      if (left > 0) this.perSocket.set(socket, left);
      else this.perSocket.delete(socket);
      if (this.count === 0) for (const wake of this.idleWaiters.splice(0)) wake();
    };
    res.on('close', release);
    socket.on('close', release);
  }

  /** Resolves true once nothing is in flight, or false when `timeoutMs` passes first. */
  whenIdle(timeoutMs: number): Promise<boolean> {
    if (this.count === 0) return Promise.resolve(true);
    return new Promise<boolean>((resolve) => {
      const wake = (): void => {
        clearTimeout(timer);
        resolve(true);
      };
      const timer = setTimeout(() => {
        const i = this.idleWaiters.indexOf(wake);
        if (i >= 0) this.idleWaiters.splice(i, 1);
        resolve(false);
      }, timeoutMs);
      this.idleWaiters.push(wake);
    });
  }
}
