/**
 * The gateway's lifecycle once built: the client listener and readiness, the requests in flight,
 * the periodic tasks, and one stop path for both endings. `drain` (SIGTERM) and `stop` (tests) run
 * the same steps in the same order; a drain also closes idle connections, waits up to
 * drainSeconds for the requests in flight, and closes the upstream pools gracefully instead of
 * destroying them. Readiness turns 503 (`draining`) the moment either begins.
 */
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { Logger } from './observability/index.js';
import { InFlightRequests } from './proxy/in-flight.js';
import type { RequestLifecycle } from './proxy/request-handler.js';

/** The client listener as the lifecycle sees it (tls/listener.ts). */
export interface ServingListener {
  listen(host: string, port: number): Promise<AddressInfo>;
  stopAccepting(): void;
  readonly server: Server;
}

export interface LifecycleParts {
  /** Readiness waits for a loaded trust snapshot, and says why there is none. */
  readonly trust: { readonly current: object | undefined; readonly notReadyReason: string | undefined };
  /** Stopped as soon as a stop begins: they would start new work (fd watch, trust refresh). */
  readonly sources: readonly { stop(): void }[];
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
  private listener: ServingListener | undefined;
  private address: AddressInfo | undefined;
  private readonly listening: Promise<AddressInfo>;
  private resolveListening!: (a: AddressInfo) => void;

  constructor(
    private readonly opts: {
      readonly logger: Logger;
      readonly drainSeconds: number;
      readonly parts: LifecycleParts;
    },
  ) {
    this.listening = new Promise((resolve) => {
      this.resolveListening = resolve;
    });
  }

  /** Starts the client listener; whenListening resolves once it listens. */
  async serve(listener: ServingListener, host: string, port: number): Promise<void> {
    this.listener = listener;
    this.address = await listener.listen(host, port);
    this.opts.logger.info({ event: 'lifecycle', msg: 'TLS listening', address: this.address });
    this.resolveListening(this.address);
  }

  /** The client listener's address, once it listens. */
  get tlsAddress(): AddressInfo | undefined {
    return this.address;
  }

  whenListening(): Promise<AddressInfo> {
    return this.listening;
  }

  /** Why /readyz answers 503, or undefined when ready. */
  notReadyReason(): string | undefined {
    const { trust } = this.opts.parts;
    if (this.draining) return 'draining';
    if (!trust.current) return trust.notReadyReason ?? 'trust material not loaded';
    if (!this.address) return 'TLS listener not started';
    return undefined;
  }

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
    this.listener?.stopAccepting();
    const server = this.listener?.server;
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
