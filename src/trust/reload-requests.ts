/**
 * Reload requests (SIGHUP), coalesced: one reload in flight and at most one queued behind it,
 * and reloads start at least MIN_INTERVAL_MS apart. A burst of signals, or a script sending one
 * every few milliseconds, costs a reload now and one more after the last signal (which so still
 * reads what it asked for), never one reload of every source per signal. Each finished reload
 * is logged with how many requests it answered and whether another one is queued.
 */
import type { Logger } from '../observability/index.js';

/** Reloads start at least this far apart (a full reload reads every secret: two AWS calls each). */
export const MIN_RELOAD_INTERVAL_MS = 1_000;

export class ReloadRequests {
  private inFlight = false;
  private timer: NodeJS.Timeout | undefined;
  private lastStart = Number.NEGATIVE_INFINITY;
  /** Requests answered by the reload in flight, and those waiting for the queued one. */
  private answering = 0;
  private waiting = 0;

  constructor(
    private readonly reload: () => Promise<void>,
    private readonly logger: Logger,
    private readonly minIntervalMs = MIN_RELOAD_INTERVAL_MS,
  ) {}

  /** Asks for a reload: starts one now, or queues one (a single one) to start when allowed. */
  request(): void {
    this.waiting++;
    if (this.inFlight || this.timer) return; // queued: the finish of the one in flight starts it
    this.startWhenAllowed();
  }

  private startWhenAllowed(): void {
    const wait = this.lastStart + this.minIntervalMs - performance.now();
    if (wait <= 0) {
      this.start();
      return;
    }
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.start();
    }, wait);
    this.timer.unref();
  }

  private start(): void {
    this.inFlight = true;
    this.lastStart = performance.now();
    this.answering = this.waiting;
    this.waiting = 0;
    this.reload()
      .catch((err: Error) => {
        this.logger.error({ event: 'trust', msg: 'SIGHUP reload failed', error: err.message });
      })
      .finally(() => {
        this.inFlight = false;
        const queued = this.waiting > 0;
        this.logger.info({
          event: 'trust',
          msg: 'SIGHUP reload finished',
          signals: this.answering,
          queued,
        });
        if (queued) this.startWhenAllowed();
      });
  }
}
