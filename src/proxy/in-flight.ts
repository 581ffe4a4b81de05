/**
 * The one count of requests in flight, for the drain. Each request is counted once when the handler
 * receives it and released exactly once, on the first of its response's or its socket's `close`
 * (a response queued behind one that closed the connection never emits its own): however many of
 * finish, error, abort and close events arrive, and in whatever order, the count cannot drift.
 * One `close` listener per connection (not per request) and one shared listener per response.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';

/** Set on a response once it was released (its own close, or its connection's). */
const RELEASED = Symbol('inFlightReleased');
type Tracked = ServerResponse & { [RELEASED]?: boolean };

export class InFlightRequests {
  private count = 0;
  private readonly idleWaiters: (() => void)[] = [];
  /** Connections with a request in flight, and how many (pipelined) each has. */
  private readonly perSocket = new Map<Socket, number>();
  /** Connections whose `close` listener is on (once per connection, not per request). */
  private readonly watched = new WeakSet<Socket>();
  /** Connections that closed: what they still had in flight was released with them. */
  private readonly closed = new WeakSet<Socket>();
  /** Shared listeners (`this` is the emitter): no closure and no socket listener per request. */
  private readonly onResponseClose: (this: Tracked) => void;
  private readonly onSocketClose: (this: Socket) => void;

  constructor() {
    const self = this;
    this.onResponseClose = function (this: Tracked): void {
      // An emit runs a copy of its listener list, and a response may close after its connection
      // did: the mark (and the closed set) make each release count once.
      if (this[RELEASED]) return;
      this[RELEASED] = true;
      const socket = this.req.socket;
      if (self.closed.has(socket)) return;
      self.release(socket, 1);
    };
    this.onSocketClose = function (this: Socket): void {
      self.closed.add(this);
      // Every response still counted on it (queued behind one that closed the connection never
      // emits its own close) is released with the connection.
      self.release(this, self.perSocket.get(this) ?? 0);
    };
  }

  get size(): number {
    return this.count;
  }

  /** The connections that have a response in flight (re-judged when trust changes). */
  connections(): IterableIterator<Socket> {
    return this.perSocket.keys();
  }

  /** Counts `req` until its response or its connection closes. */
  track(req: IncomingMessage, res: ServerResponse): void {
    const socket = req.socket;
    if (this.closed.has(socket)) return; // already gone: nothing will ever release it
    this.count++;
    this.perSocket.set(socket, (this.perSocket.get(socket) ?? 0) + 1);
    res.once('close', this.onResponseClose);
    if (!this.watched.has(socket)) {
      this.watched.add(socket);
      socket.once('close', this.onSocketClose);
    }
  }

  private release(socket: Socket, n: number): void {
    if (n === 0) return;
    this.count -= n;
    const left = (this.perSocket.get(socket) ?? n) - n;
    if (left > 0) this.perSocket.set(socket, left);
    else this.perSocket.delete(socket);
    if (this.count === 0) for (const wake of this.idleWaiters.splice(0)) wake();
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
