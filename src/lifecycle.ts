/**
 * The gateway's lifecycle after start: the requests in flight, the periodic tasks, and one stop
 * path for both endings. `drain` (SIGTERM) and `stop` (tests) run the same steps in the same
 * order; a drain also closes idle connections and waits up to drainSeconds for the requests in
 * flight, and closes the upstream pools gracefully instead of destroying them. Readiness turns
 * 503 (`draining`) the moment either begins.
 */
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Logger } from './observability/index.js';
import { InFlightRequests } from './proxy/in-flight.js';
import type { RequestLifecycle } from './proxy/request-handler.js';

export interface LifecycleParts {
  /** Stopped as soon as a stop begins: they would start new work (fd watch, trust refresh). */
  readonly sources: readonly { stop(): void }[];
  /** The client listener, once it listens. */
  readonly listener: () => { stopAccepting(): void; readonly server: Server } | undefined;
  /**
   * Stopped once the requests in flight finished or were cut: until then they keep working (the
   * in-flight re-judge still cuts a response whose client a trust change refuses).
   */
  readonly afterDrain: readonly { stop(): void }[];
  readonly upstreams: { close(): Promise<void>; destroy(): Promise<void> };
  readonly admin: { close(): Promise<void> };
}

export class Lifecycle implements RequestLifecycle {
  private draining = false;
  private readonly inFlight = new InFlightRequests();
  private readonly timers: NodeJS.Timeout[] = [];

  constructor(
    private readonly opts: {
      readonly logger: Logger;
      readonly drainSeconds: number;
      readonly parts: LifecycleParts;
    },
  ) {}

  isDraining(): boolean {
    return this.draining;
  }

  /** Counts a request until its response or its connection closes. */
  track(req: IncomingMessage, res: ServerResponse): void {
    this.inFlight.track(req, res);
  }

  /** The connections with a response in flight (re-judged when trust changes). */
  connections(): Iterable<Socket> {
    return this.inFlight.connections();
  }

  /** Runs `task` every `seconds` until a stop (the timer never holds the process open). */
  repeat(seconds: number, task: () => void): void {
    const timer = setInterval(task, seconds * 1000);
    timer.unref();
    this.timers.push(timer);
  }

  /**
   * SIGTERM: readiness turns 503 at once, the listener stops accepting, idle keep-alive connections
   * close, in-flight requests get `Connection: close` and up to drainSeconds to finish.
   * Resolves true when every request finished in time; the requests cut at the deadline are
   * logged (`cut_requests`), and the exit status follows (0 clean, 1 cut).
   */
  drain(): Promise<boolean> {
    return this.shutdown(true);
  }

  /** Immediate stop (tests): no drain wait, open connections and upstream sockets destroyed. */
  async stop(): Promise<void> {
    await this.shutdown(false);
  }

  private async shutdown(drain: boolean): Promise<boolean> {
    const { logger, drainSeconds, parts } = this.opts;
    this.draining = true;
    for (const source of parts.sources) source.stop();
    if (drain) logger.info({ event: 'lifecycle', msg: 'draining', in_flight: this.inFlight.size });
    const listener = parts.listener();
    listener?.stopAccepting();
    const server = listener?.server;
    server?.close();
    let cut = 0;
    if (drain) {
      server?.closeIdleConnections();
      await this.inFlight.whenIdle(drainSeconds * 1000);
      cut = this.inFlight.size;
      if (cut > 0) {
        logger.warn({
          event: 'lifecycle',
          msg: 'drain deadline reached: cutting the requests still in flight',
          cut_requests: cut,
          drain_seconds: drainSeconds,
        });
      }
    }
    server?.closeAllConnections();
    for (const timer of this.timers.splice(0)) clearInterval(timer);
    for (const part of parts.afterDrain) part.stop();
    await (drain ? parts.upstreams.close() : parts.upstreams.destroy());
    await parts.admin.close();
    if (drain) logger.info({ event: 'lifecycle', msg: 'stopped', clean: cut === 0, cut_requests: cut });
    return cut === 0;
  }
}
