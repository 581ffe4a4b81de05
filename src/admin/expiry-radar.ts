/**
 * The expiry radar: every distinct client certificate seen recently (bounded: the last 7 days, at
 * most `maxEntries`, least recently seen evicted first), by partner, so the security team sees
 * renewals coming. It feeds `mtls_gateway_client_cert_not_after_timestamp_seconds{partner}`
 * (earliest per partner), `GET /trust/expiring` on the admin listener, and one `warn` a day per
 * certificate inside the window. Certificates are kept as subject/serial/fingerprint only.
 */
import { isoSeconds } from '../identity/index.js';
import type { Logger, Metrics } from '../observability/index.js';

const DAY_MS = 86_400_000;

export interface SeenCertificate {
  readonly fingerprint256: string;
  readonly subject: string;
  readonly issuer: string;
  readonly serial: string;
  /** Epoch ms. */
  readonly notAfter: number;
}

interface Entry {
  readonly cert: SeenCertificate;
  partnerId: string;
  partnerLabel: string;
  lastSeen: number;
  lastWarned: number | undefined;
}

export interface ExpiryRadarOptions {
  readonly logger: Logger;
  readonly metrics: Metrics;
  readonly windowDays?: number;
  readonly retentionDays?: number;
  readonly maxEntries?: number;
  readonly now?: () => number;
}

export class ExpiryRadar {
  private readonly entries = new Map<string, Entry>();
  private readonly windowMs: number;
  private readonly retentionMs: number;
  private readonly maxEntries: number;
  private readonly now: () => number;
  /** The gauge's value per partner label (O(1) per observation; rebuilt by sweep after evictions). */
  private earliestByLabel = new Map<string, number>();

  constructor(private readonly opts: ExpiryRadarOptions) {
    this.windowMs = (opts.windowDays ?? 30) * DAY_MS;
    this.retentionMs = (opts.retentionDays ?? 7) * DAY_MS;
    this.maxEntries = opts.maxEntries ?? 10_000;
    this.now = opts.now ?? Date.now;
  }

  get size(): number {
    return this.entries.size;
  }

  /**
   * Once per verified connection. `partnerLabel` is the bounded metric label (a declared id or
   * `undeclared`); `partnerId` is what X-Client-Id says, for the report.
   */
  observe(cert: SeenCertificate, partnerId: string, partnerLabel: string): void {
    const now = this.now();
    let entry = this.entries.get(cert.fingerprint256);
    if (entry) {
      this.entries.delete(cert.fingerprint256); // re-inserted below: Map order is least recently seen first
      entry.lastSeen = now;
      entry.partnerId = partnerId;
      entry.partnerLabel = partnerLabel;
    } else {
      entry = { cert, partnerId, partnerLabel, lastSeen: now, lastWarned: undefined };
      if (this.entries.size >= this.maxEntries) {
        const oldest = this.entries.keys().next().value;
        if (oldest !== undefined) this.entries.delete(oldest);
      }
    }
    this.entries.set(cert.fingerprint256, entry);
    this.warnIfDue(entry, now);
    const seconds = cert.notAfter / 1000;
    const current = this.earliestByLabel.get(partnerLabel);
    if (current === undefined || seconds < current) {
      this.earliestByLabel.set(partnerLabel, seconds);
      this.opts.metrics.clientCertNotAfter.set({ partner: partnerLabel }, seconds);
    }
  }

  /** Periodic: forget certificates not seen within the retention, refresh the gauge, warn daily. */
  sweep(): void {
    const now = this.now();
    for (const [fp, e] of this.entries) {
      if (now - e.lastSeen <= this.retentionMs) break; // the rest were seen more recently
      this.entries.delete(fp);
    }
    for (const e of this.entries.values()) this.warnIfDue(e, now);
    const earliest = new Map<string, number>();
    for (const e of this.entries.values()) {
      const s = e.cert.notAfter / 1000;
      const prev = earliest.get(e.partnerLabel);
      if (prev === undefined || s < prev) earliest.set(e.partnerLabel, s);
    }
    const gauge = this.opts.metrics.clientCertNotAfter;
    for (const label of this.earliestByLabel.keys())
      if (!earliest.has(label)) gauge.remove({ partner: label });
    for (const [label, s] of earliest) gauge.set({ partner: label }, s);
    this.earliestByLabel = earliest;
  }

  /** `GET /trust/expiring`: certificates seen in the retention that expire within the window. */
  report(): unknown {
    const now = this.now();
    const expiring = [...this.entries.values()]
      .filter((e) => e.cert.notAfter - now <= this.windowMs)
      .sort((a, b) => a.cert.notAfter - b.cert.notAfter)
      .map((e) => ({
        partner: e.partnerId,
        subject: e.cert.subject,
        issuer: e.cert.issuer,
        serial: e.cert.serial,
        fingerprint256: e.cert.fingerprint256,
        not_after: isoSeconds(e.cert.notAfter),
        days_left: Math.floor((e.cert.notAfter - now) / DAY_MS),
        last_seen: isoSeconds(e.lastSeen),
      }));
    return {
      window_days: this.windowMs / DAY_MS,
      retention_days: this.retentionMs / DAY_MS,
      tracked: this.entries.size,
      expiring,
    };
  }

  private warnIfDue(e: Entry, now: number): void {
    const left = e.cert.notAfter - now;
    if (left > this.windowMs) return;
    if (e.lastWarned !== undefined && now - e.lastWarned < DAY_MS) return;
    e.lastWarned = now;
    this.opts.logger.warn({
      event: 'trust',
      msg: `client certificate of partner '${e.partnerId}' expires at ${isoSeconds(e.cert.notAfter)}`,
      partner_id: e.partnerId,
      subject: e.cert.subject,
      serial: e.cert.serial,
      issuer: e.cert.issuer,
      fingerprint256: e.cert.fingerprint256,
      not_after: isoSeconds(e.cert.notAfter),
      days_left: Math.floor(left / DAY_MS),
    });
  }
}
