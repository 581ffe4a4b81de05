/**
 * Per-connection state: the gate's verdict, the snapshot it was decided against and the identity
 * headers computed once at handshake time. `current()` re-decides only when the trust snapshot
 * changed or a CRL of it passed nextUpdate + grace since the last decision (O(1) otherwise), and
 * refuses a connection whose chain has since expired. So a keep-alive connection cannot outlive
 * a CRL that expires while it is open: its next request is refused (`crl_expired`) as a new
 * connection would be.
 */
import type { Socket } from 'node:net';
import type { TrustSnapshot } from '../trust/snapshot.js';
import { type RevocationPolicy, recheckConnection, type Verdict } from './connection-gate.js';

export class ConnectionState {
  private verdict: Verdict;
  private checkedAgainst: TrustSnapshot | undefined;
  /** When a CRL of `checkedAgainst` next expires (nextUpdate + grace): decide again then. */
  private recheckAt: number | undefined;
  private readonly expiresAt: number;
  /** When the connection was verified (for the maximum connection age). */
  readonly establishedAt = Date.now();

  constructor(
    verdict: Verdict,
    snapshot: TrustSnapshot | undefined,
    /** Client address (from PROXY protocol when enabled). */
    readonly remoteAddress: string,
    /** The partner id the policy resolved (X-Client-Id). */
    readonly partnerId: string | undefined,
  ) {
    this.verdict = verdict;
    this.checkedAgainst = snapshot;
    this.expiresAt = verdict.ok ? Math.min(...verdict.chain.map((c) => c.notAfter)) : 0;
  }

  /** The verdict under the current snapshot; re-checks after any trust change. */
  current(snapshot: TrustSnapshot | undefined, policy: RevocationPolicy, now: number = Date.now()): Verdict {
    const v = this.verdict;
    if (!v.ok) return v;
    if (!snapshot)
      return this.settle({ ok: false, reason: 'other', presented: {}, detail: 'trust unloaded' });
    if (now > this.expiresAt) {
      return this.settle({
        ok: false,
        reason: 'expired',
        presented: { subject: v.identity.subject, serial: v.identity.serial, issuer: v.identity.issuer },
        detail: 'a certificate of the chain expired while connected',
      });
    }
    if (!this.checkedAgainst) return v;
    if (snapshot === this.checkedAgainst) {
      this.recheckAt ??= nextCrlExpiry(snapshot, policy.graceSeconds, this.establishedAt);
      if (now <= this.recheckAt) return v;
    }
    const next = recheckConnection(v, this.checkedAgainst, snapshot, policy, now);
    this.checkedAgainst = snapshot;
    this.recheckAt = nextCrlExpiry(snapshot, policy.graceSeconds, now);
    return this.settle(next);
  }

  get initialVerdict(): Verdict {
    return this.verdict;
  }

  /** Once refused, a connection stays refused. */
  private settle(v: Verdict): Verdict {
    this.verdict = v;
    return v;
  }
}

/** Per snapshot: the moments its CRLs expire (nextUpdate + grace), ascending; computed once. */
const crlExpiries = new WeakMap<TrustSnapshot, { graceSeconds: number; at: number[] }>();

/** The first CRL expiry (nextUpdate + grace) of `snapshot` at or after `after`, or Infinity. */
export function nextCrlExpiry(snapshot: TrustSnapshot, graceSeconds: number, after: number): number {
  let known = crlExpiries.get(snapshot);
  if (!known || known.graceSeconds !== graceSeconds) {
    const graceMs = Math.max(0, graceSeconds) * 1000;
    const at = snapshot.revocation
      .summary()
      .flatMap((c) => (c.nextUpdate === undefined ? [] : [c.nextUpdate + graceMs]))
      .sort((a, b) => a - b);
    known = { graceSeconds, at };
    crlExpiries.set(snapshot, known);
  }
  return known.at.find((t) => t >= after) ?? Number.POSITIVE_INFINITY;
}

const states = new WeakMap<Socket, ConnectionState>();

export function attachState(socket: Socket, state: ConnectionState): void {
  states.set(socket, state);
}

export function stateOf(socket: Socket): ConnectionState | undefined {
  return states.get(socket);
}
