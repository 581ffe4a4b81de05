/**
 * The upstream pool registry: one undici Pool (an `Upstream`) per distinct upstream origin, the
 * configured GATEWAY_UPSTREAM always among them. The policy in force names the others; after a
 * reload, `sync` creates the pools it newly names and closes those it no longer names (their
 * in-flight requests finish first). On stop every pool is closed (drain) or destroyed (stop).
 */
import type { Config } from '../config/config.js';
import { UPSTREAM_POOL_CONNECTIONS, Upstream, type UpstreamTimeouts } from './forward.js';

export class Upstreams {
  /** GATEWAY_UPSTREAM: the default route's upstream, and where an unknown origin falls back. */
  readonly default: Upstream;
  private readonly pools = new Map<string, Upstream>();

  /** GATEWAY_UPSTREAM and the upstream timeouts of the configuration. */
  static of(
    config: Pick<Config, 'upstream' | 'upstreamConnectTimeoutSeconds' | 'upstreamTimeoutSeconds'>,
  ): Upstreams {
    return new Upstreams(config.upstream, {
      connectSeconds: config.upstreamConnectTimeoutSeconds,
      responseSeconds: config.upstreamTimeoutSeconds,
    });
  }

  constructor(
    defaultOrigin: URL,
    private readonly timeouts: UpstreamTimeouts,
  ) {
    this.default = new Upstream(defaultOrigin, timeouts);
    this.pools.set(defaultOrigin.origin, this.default);
  }

  /** The pool for an origin the policy names; the default one for none (or one not yet synced). */
  for(origin: string | undefined): Upstream {
    return (origin === undefined ? undefined : this.pools.get(origin)) ?? this.default;
  }

  /** How many sockets the pools may open together (the descriptor budget counts them). */
  get maxSockets(): number {
    return UPSTREAM_POOL_CONNECTIONS * Math.max(1, this.pools.size);
  }

  /** Creates a Pool for every origin in `origins` and the default; closes those not named any more. */
  sync(origins: Iterable<string>): void {
    const wanted = new Set(origins);
    wanted.add(this.default.origin.origin);
    for (const origin of wanted) {
      if (!this.pools.has(origin)) this.pools.set(origin, new Upstream(new URL(origin), this.timeouts));
    }
    for (const [origin, upstream] of this.pools) {
      if (wanted.has(origin)) continue;
      this.pools.delete(origin);
      void upstream.close().catch(() => undefined); // lets in-flight requests finish
    }
  }

  /** Drain: every pool closes once its in-flight requests finish. */
  async close(): Promise<void> {
    await Promise.all([...this.pools.values()].map((u) => u.close().catch(() => undefined)));
  }

  /** Immediate stop: every pool's sockets are destroyed now. */
  async destroy(): Promise<void> {
    await Promise.all([...this.pools.values()].map((u) => u.destroy().catch(() => undefined)));
  }
}
