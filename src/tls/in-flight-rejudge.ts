/**
 * Re-judges the connections that have a response in flight when trust changes (a snapshot swap,
 * or a CRL of the snapshot in force passing nextUpdate + grace), and destroys those now refused.
 *
 * Security property (strict mode): a response that is still streaming (server-sent events, a long
 * poll, a large download) stops reaching a client within one pass of the trust change that refuses
 * it, instead of flowing until the upstream ends it. Idle keep-alive connections need no pass: the
 * gate re-judges them at their next request (connection-state.ts). One pass over the in-flight set
 * per change, O(1) per connection when its verdict still holds.
 */
import type { Socket } from 'node:net';
import type { Logger, Metrics } from '../observability/index.js';
import type { TrustSnapshot } from '../trust/snapshot.js';
import type { RevocationPolicy } from './connection-gate.js';
import { nextCrlExpiry, stateOf } from './connection-state.js';

export interface InFlightRejudgeOptions {
  /** The connections with a response in flight. */
  readonly connections: () => Iterable<Socket>;
  /** The snapshot in force. */
  readonly current: () => TrustSnapshot | undefined;
  readonly policy: RevocationPolicy;
  readonly logger: Logger;
  readonly metrics: Metrics;
}

/** setTimeout's ceiling (about 24.8 days); a later expiry is reached in steps. */
const MAX_TIMER_MS = 2 ** 31 - 1;

export class InFlightRejudge {
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly opts: InFlightRejudgeOptions) {}

  /** One pass: every in-flight connection decided again against `snapshot`; returns how many were cut. */
  run(snapshot: TrustSnapshot | undefined, now: number = Date.now()): number {
    let cut = 0;
    for (const socket of [...this.opts.connections()]) {
      const state = stateOf(socket);
      if (!state || socket.destroyed) continue;
      const verdict = state.current(snapshot, this.opts.policy, now);
      if (verdict.ok) continue;
      cut++;
      this.opts.metrics.connectionsRefused.inc({ reason: verdict.reason });
      this.opts.logger.warn({
        event: 'connection',
        msg: 'trust changed while a response was in flight: connection closed',
        client: state.remoteAddress,
        partner_id: state.partnerId,
        result: 'refused',
        reason: verdict.reason,
        subject: verdict.presented.subject,
        serial: verdict.presented.serial,
        issuer: verdict.presented.issuer,
      });
      socket.destroy();
    }
    return cut;
  }

  /** A pass now against `snapshot`, and the next one when one of its CRLs expires. */
  onTrustChange(snapshot: TrustSnapshot | undefined): void {
    this.run(snapshot);
    this.schedule(snapshot);
  }

  /** Arms one timer for the first CRL expiry of `snapshot` (replacing any earlier one). */
  schedule(snapshot: TrustSnapshot | undefined, now: number = Date.now()): void {
    this.stop();
    if (!snapshot) return;
    const at = nextCrlExpiry(snapshot, this.opts.policy.graceSeconds, now + 1);
    if (!Number.isFinite(at)) return;
    const delay = Math.min(MAX_TIMER_MS, Math.max(0, at - now) + 1);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      const current = this.opts.current();
      if (current !== snapshot) return; // a swap since: its own pass and timer took over
      if (Date.now() < at) return this.schedule(current); // a step of a long wait
      const t = Math.max(Date.now(), at + 1); // strictly past the expiry, as the gate counts it
      this.run(current, t);
      this.schedule(current, t);
    }, delay);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }
}
