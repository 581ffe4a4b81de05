/**
 * File descriptors, watched. When a process runs out of them, libuv keeps a spare descriptor to
 * accept and at once close each new connection (so the listener does not spin), and Node reports
 * nothing: partners see resets, the admin port stops answering, and no line says why. The watch
 * reads /proc/self/fd every few seconds; when that read itself fails with EMFILE/ENFILE (or the
 * count is within 5% of the limit) it logs one `warn` line per interval and counts
 * `accept_errors_total{code}`. Accept errors Node does report (a listener's 'error') go the same way.
 * At start, GATEWAY_MAX_CONNECTIONS is checked against RLIMIT_NOFILE, as HAProxy does.
 */
import { readFileSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import type { Logger } from 'pino';
import type { Metrics } from './metrics.js';

/** The soft and hard RLIMIT_NOFILE of this process (Linux: /proc/self/limits), or undefined. */
export function openFilesLimit(): { soft: number; hard: number } | undefined {
  try {
    const line = readFileSync('/proc/self/limits', 'utf8')
      .split('\n')
      .find((l) => l.startsWith('Max open files'));
    const m = line && /^Max open files\s+(\d+|unlimited)\s+(\d+|unlimited)/.exec(line);
    if (!m) return undefined;
    const n = (v: string): number => (v === 'unlimited' ? Number.POSITIVE_INFINITY : Number(v));
    return { soft: n(m[1]!), hard: n(m[2]!) };
  } catch {
    return undefined; // not Linux: nothing to check
  }
}

/**
 * Descriptors a gateway needs at its connection limit: one per client connection, one per upstream
 * connection (at most one per client connection, and at most `upstreamSockets`), plus a reserve
 * for the admin listener, trust sources, logs and Node itself.
 */
export function descriptorsNeeded(maxConnections: number, upstreamSockets: number): number {
  return maxConnections + Math.min(maxConnections, upstreamSockets) + FD_RESERVE;
}

export const FD_RESERVE = 128;
const NEAR_LIMIT = 0.95;

export class FdWatch {
  private timer: NodeJS.Timeout | undefined;
  private lastWarned = 0;

  constructor(
    private readonly logger: Logger,
    private readonly metrics: Metrics,
    private readonly intervalMs = 2_000,
    private readonly limit = openFilesLimit(),
  ) {}

  start(): void {
    this.timer = setInterval(() => void this.check(), this.intervalMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  /**
   * GATEWAY_MAX_CONNECTIONS against RLIMIT_NOFILE (HAProxy checks maxconn the same way): a limit
   * the process cannot reach in descriptors means connections are dropped silently before it.
   */
  checkBudget(maxConnections: number, upstreamSockets: number): void {
    const limit = this.limit;
    if (!limit || !Number.isFinite(limit.soft)) return;
    const needed = descriptorsNeeded(maxConnections, upstreamSockets);
    if (needed <= limit.soft) return;
    this.logger.warn({
      event: 'lifecycle',
      msg: 'GATEWAY_MAX_CONNECTIONS exceeds what the file descriptor limit (ulimit -n) allows',
      max_connections: maxConnections,
      fds_needed: needed,
      nofile_soft: limit.soft,
      nofile_hard: Number.isFinite(limit.hard) ? limit.hard : 'unlimited',
      fix: `raise the task's nofile ulimit to at least ${needed}, or lower GATEWAY_MAX_CONNECTIONS`,
    });
  }

  /** A listener's 'error' (accept failed): logged and counted, never fatal. */
  acceptFailed(listener: string, err: NodeJS.ErrnoException): void {
    const code = err.code ?? 'unknown';
    this.metrics.acceptErrors.inc({ code });
    this.warn({ listener, code, msg: `accept failed on the ${listener} listener`, error: err.message });
  }

  private async check(): Promise<void> {
    let open: number;
    try {
      open = (await readdir('/proc/self/fd')).length;
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== 'EMFILE' && code !== 'ENFILE') return; // no /proc: nothing to watch
      this.metrics.acceptErrors.inc({ code });
      this.warn({
        code,
        msg: 'out of file descriptors: new connections (TLS and admin) are accepted and dropped at once',
      });
      return;
    }
    if (this.limit && open >= this.limit.soft * NEAR_LIMIT) {
      this.warn({ msg: 'close to the file descriptor limit', open_fds: open });
    }
  }

  /** At most one line per interval: exhaustion is a state, not an event per connection. */
  private warn(fields: Record<string, unknown>): void {
    const now = performance.now();
    if (now - this.lastWarned < this.intervalMs) return;
    this.lastWarned = now;
    this.logger.warn({ event: 'lifecycle', limit: this.limit?.soft, ...fields });
  }
}
