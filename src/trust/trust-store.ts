/**
 * The TrustStore polls every source (CA bundle, CRLs, server certificate and key), validates what
 * changed, and publishes a whole new TrustSnapshot only from material that passed validation, the
 * mass lock-out guard and a trial `tls.createSecureContext` (the `checkSnapshot` hook).
 * Failure never removes good material: the last good CA bundle, server credentials and CRLs stay
 * in force, the rejection is logged, counted and listed in /trust. A CRL never replaces a newer
 * one of the same issuer, and CRLs are re-verified whenever the CA bundle changes (those of the CAs
 * that stay remain in force meanwhile, whatever their source answers).
 *
 * Polls are cheap: each source is asked for "anything newer than the version I last read"; a
 * version that was rejected or held back by the guard is not re-read on every poll (an explicit
 * refresh, i.e. SIGHUP, re-reads and re-decides everything). Material refused only for the clock
 * (TimeTrustMaterialError) is never held: it is decided again on every poll, and a poll is due at
 * the moment a refused server certificate becomes valid. CAs not valid yet are loaded, warned
 * about and watched: when one becomes valid the store says so (log and metric).
 *
 * The parts: source-reads.ts reads the sources and remembers what reading needs (cache, versions
 * held back, fleet labels); candidates.ts turns bytes into candidates or refusals (pure);
 * trust-status.ts is the /trust document. This file schedules, orchestrates, asks the guard, and
 * commits with the metrics and logs.
 */
import { EventEmitter } from 'node:events';
import type { Config, Source } from '../config/config.js';
import type { Logger, Metrics, TrustKind } from '../observability/index.js';
import { type CaBundle, notYetValidCas, TrustMaterialError } from './ca-bundle.js';
import {
  type CaCandidate,
  type CrlStage,
  caCandidate,
  crlStage,
  crlsToVerify,
  isRefused,
  type ServerCandidate,
  type SourceBytes,
  serverCandidate,
  serverVersion,
} from './candidates.js';
import { parseAndVerifyCrlsOffThread } from './crl/crl-worker.js';
import type { VerifiedCrl } from './crl/verify-crl.js';
import { type RevocationCheckOptions, RevocationIndex } from './revocation-index.js';
import { evaluateGuard, RecentClients, type VerifiedClient } from './rotation-guard.js';
import type { LoadedMaterial, TrustSnapshot } from './snapshot.js';
import { type CrlRead, type LabelDecision, SourceReads } from './source-reads.js';
import { describeSource, type FetchResult, redactUrlsIn, SourceError } from './sources/index.js';
import type { FetchOptions } from './sources/types.js';
import { type GuardHold, iso, type Rejection, type TrustStatus, trustStatus } from './trust-status.js';

export interface TrustStoreOptions {
  readonly caBundle: Source;
  readonly serverCert: Source;
  readonly serverKey: Source;
  readonly crls: readonly Source[];
  readonly refreshSeconds: number;
  readonly production: boolean;
  readonly logger: Logger;
  readonly metrics: Metrics;
  /** Refuse a candidate that would cut off more than this share of recently active partners. */
  readonly maxRefusedPercent?: number;
  /** The revocation rules the gateway applies, so the guard decides as the gate would. */
  readonly revocationPolicy?: RevocationCheckOptions;
  /**
   * Throws when the snapshot cannot become a TLS context (the gateway passes a trial
   * `tls.createSecureContext` with the listener's full option set). Called before publishing.
   */
  readonly checkSnapshot?: (snapshot: TrustSnapshot) => void;
  /** How sources are read (default fetchSource; cluster workers read what the primary relayed). */
  readonly fetch?: (source: Source, options: FetchOptions) => Promise<FetchResult>;
  /**
   * Records this store's decisions where the whole fleet reads them (Secrets Manager staging
   * labels: MTLSGW_HELD on a version the guard held back, MTLSGW_LAST_GOOD on one installed).
   * Default labelSourceVersion; cluster workers pass none (their primary decides and labels).
   */
  readonly label?: ((source: Source, decision: LabelDecision, version: string) => Promise<boolean>) | null;
}

/** What a Config says about trust: the sources, how often to poll them, and the revocation rules. */
export function trustSettingsOf(
  config: Config,
): Required<
  Pick<
    TrustStoreOptions,
    'caBundle' | 'serverCert' | 'serverKey' | 'crls' | 'refreshSeconds' | 'production' | 'revocationPolicy'
  >
> {
  return {
    caBundle: config.caBundle,
    serverCert: config.serverCert,
    serverKey: config.serverKey,
    crls: config.crls,
    refreshSeconds: config.trustRefreshSeconds,
    production: config.production,
    revocationPolicy: { graceSeconds: config.crlGraceSeconds, crlRequired: config.crlRequired },
  };
}

const MAX_REJECTIONS = 20;
/**
 * The same rejection (kind, source, version, reason) is logged and listed in /trust at most once
 * this often; the repeats in between are counted and reported with the next line (`repeated`).
 * Material refused for the clock (an expired CA) is retried on every poll: 2,880 identical error
 * lines a day at 30 s, and /trust's list filled with one rejection.
 */
const REPEATED_REJECTION_MS = 3_600_000;
/** setTimeout's ceiling is about 24.8 days; a later wake-up is re-armed by the polls meanwhile. */
const MAX_TIMER_MS = 2 ** 31 - 1;
const MAX_LISTED_REFUSALS = 50;
const SERVER_EXPIRY_LOG_MS = 3600_000;
const errorCode = (err: Error): string | undefined => (err as { code?: string }).code;

export class TrustStore extends EventEmitter<{
  update: [TrustSnapshot];
  guardBlocked: ['ca_bundle' | 'crl'];
  /** After every poll or refresh, whatever it decided. */
  polled: [];
}> {
  private snapshot: TrustSnapshot | undefined;
  private ca: { bundle: CaBundle; info: LoadedMaterial } | undefined;
  private server: ServerCandidate | undefined;
  private index: RevocationIndex = RevocationIndex.EMPTY;
  /** Accepted CRL bytes per source, re-verified when the CA bundle changes. */
  private readonly crlSources = new Map<string, SourceBytes>();
  private readonly crlOrigin = new WeakMap<VerifiedCrl, string>();
  private readonly reads: SourceReads;
  private readonly guardBlocked = new Map<'ca_bundle' | 'crl', GuardHold>();
  private serverExpiryLogged: { version: string; at: number } | undefined;
  private readonly rejections: Rejection[] = [];
  /** Per identical rejection: when it was last logged, and the repeats not logged since. */
  private readonly rejectionSeen = new Map<string, { at: number; repeats: number }>();
  readonly recentClients = new RecentClients();
  private generation = 0;
  private timer: NodeJS.Timeout | undefined;
  /** Fires when a CA or a refused server certificate becomes valid (see wakeAt). */
  private validityTimer: NodeJS.Timeout | undefined;
  /** A refused server certificate's notBefore: a poll is due then. */
  private serverValidFrom: number | undefined;
  /** The earliest notBefore of a candidate the guard held back only for time: a poll is due then. */
  private guardValidFrom: number | undefined;
  /** Fingerprints of loaded CAs reported as not valid yet (to say when each becomes valid). */
  private readonly pendingCas = new Set<string>();
  private running: Promise<void> | undefined;
  private queued: Promise<void> | undefined;
  private failures = 0;
  private lastError: string | undefined;
  private stopped = false;

  constructor(private readonly opts: TrustStoreOptions) {
    super();
    this.reads = new SourceReads({
      logger: opts.logger,
      fetch: opts.fetch,
      label: opts.label,
      // A poll never outlasts its period by much: a hung source cannot stall the next one.
      timeoutMs: Math.min(10_000, Math.max(2_000, opts.refreshSeconds * 1000)),
    });
  }

  get current(): TrustSnapshot | undefined {
    return this.snapshot;
  }

  /** Why there is no snapshot yet (for /readyz), or undefined. */
  get notReadyReason(): string | undefined {
    return this.snapshot ? undefined : (this.lastError ?? 'trust material not loaded yet');
  }

  /** First load, then polling; resolves after the first attempt whatever its outcome. */
  async start(): Promise<void> {
    await this.run(true);
    this.schedule();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    if (this.validityTimer) clearTimeout(this.validityTimer);
  }

  /**
   * Versions the lock-out guard holds back, by source name: a cluster primary relays every fresh
   * read to its workers except these, so the one decision of the task holds in every worker.
   */
  guardHeldVersions(): Map<string, string> {
    return this.reads.guardHeldVersions(describeSource(this.opts.caBundle));
  }

  /** Remembers a verified client for the lock-out guard (O(1), once per connection). */
  recordVerifiedClient(client: VerifiedClient): void {
    this.recentClients.record(client);
  }

  private schedule(): void {
    if (this.stopped) return;
    // Nothing loaded yet: retry from 1 s up to the period. Loaded and a source failing: back off
    // up to 4x the period (throttling, outages) while the material in force keeps serving.
    const period = this.opts.refreshSeconds * 1000;
    const n = this.failures;
    const delay =
      n === 0
        ? period
        : this.snapshot
          ? period * 2 ** Math.min(n - 1, 2)
          : Math.min(period, 1000 * 2 ** Math.min(n - 1, 10));
    this.timer = setTimeout(() => {
      this.run(false).finally(() => this.schedule());
    }, delay);
    this.timer.unref();
  }

  /**
   * Re-reads every source now and re-decides versions held back before (SIGHUP, tests). Waits for
   * a poll in progress and then runs its own, so what was published before the call is seen.
   */
  refresh(): Promise<void> {
    return this.run(true);
  }

  private run(explicit: boolean): Promise<void> {
    if (!this.running) {
      this.running = this.refreshOnce(explicit)
        .catch((err: Error) => {
          this.opts.logger.error({
            event: 'trust',
            msg: 'trust refresh failed',
            error: redactUrlsIn(err.message),
          });
        })
        .finally(() => {
          this.running = undefined;
          this.emit('polled');
        });
      return this.running;
    }
    if (!explicit) return this.running;
    this.queued ??= this.running.then(() => {
      this.queued = undefined;
      return this.run(true);
    });
    return this.queued;
  }

  private async refreshOnce(explicit: boolean): Promise<void> {
    let sourceFailed = false;
    const now = Date.now();
    this.guardValidFrom = undefined; // set again below if the guard still holds for time
    const onSourceError = (kind: TrustKind, name: string, err: Error): undefined => {
      if (err instanceof SourceError) sourceFailed = true;
      this.reject(kind, name, err);
      return undefined;
    };

    const caName = describeSource(this.opts.caBundle);
    const serverName = describeSource(this.opts.serverCert);
    // Sources are read concurrently: one hung source costs one timeout, not one per source.
    let [caCand, serverCand, crlReads] = await Promise.all([
      this.caCandidate(now, explicit).catch((err: Error) => onSourceError('ca_bundle', caName, err)),
      this.serverCandidate(now, explicit).catch((err: Error) =>
        onSourceError('server_cert', serverName, err),
      ),
      this.reads.readCrls(this.opts.crls, explicit, (name, err) => onSourceError('crl', name, err)),
    ]);

    let stage: CrlStage | undefined;
    const bundle = caCand?.bundle ?? this.ca?.bundle;
    if (bundle) stage = await this.crlStage(bundle, caCand !== undefined, crlReads, explicit);

    // The guard judges the bundle together with the CRLs verified against it.
    if (caCand && this.ca && stage) {
      const verdict = this.guard('ca_bundle', caName, caCand.info.version, caCand.forced, {
        bundle: caCand.bundle,
        index: stage.index,
      });
      if (verdict !== 'pass') {
        this.reads.hold('ca_bundle', { version: caCand.info.version, labels: caCand.labels, why: verdict });
        caCand = undefined;
        stage = await this.crlStage(this.ca.bundle, false, crlReads, explicit);
      }
    }
    if (stage?.changed && this.ca && !caCand) {
      const verdict = this.guard('crl', [...stage.offeredBy.keys()].join(','), '', stage.forced, {
        bundle: this.ca.bundle,
        index: stage.index,
      });
      if (verdict !== 'pass') {
        for (const [name, v] of stage.offeredBy) {
          this.reads.hold(name, { ...v, why: verdict });
          const source = this.crlSourceNamed(name);
          if (source && verdict === 'guard') this.reads.label(source, 'held', v.version);
        }
        stage = undefined;
      }
    }

    const ca = caCand ?? this.ca;
    const server = serverCand ?? this.server;
    const index = stage?.changed ? stage.index : this.index;
    const changed = caCand !== undefined || serverCand !== undefined || stage?.changed === true;
    let next: TrustSnapshot | undefined;
    if (ca && server && (changed || !this.snapshot)) {
      next = {
        generation: this.generation + 1,
        caBundle: ca.bundle,
        caBundleInfo: ca.info,
        server: server.creds,
        serverInfo: server.info,
        revocation: index,
      };
      try {
        this.opts.checkSnapshot?.(next);
      } catch (err) {
        // OpenSSL refused the combination (key type, curve, a CA it cannot load): keep everything.
        const reason = new TrustMaterialError(`TLS context refused: ${(err as Error).message}`);
        if (caCand) this.refuseCandidate('ca_bundle', caName, caCand.info.version, caCand.labels, reason);
        if (serverCand) this.refuseCandidate('server_cert', serverName, serverCand.info.version, '', reason);
        if (stage?.changed) {
          for (const [name, v] of stage.offeredBy)
            this.refuseCandidate('crl', name, v.version, v.labels, reason);
        }
        this.failures = sourceFailed ? this.failures + 1 : 0;
        return;
      }
    }

    if (caCand) this.commitCa(caCand);
    if (serverCand) this.commitServer(serverCand);
    if (stage) this.commitCrls(stage);
    // Freshness is "last successful check", as for the other kinds: every CRL source answered
    // (unchanged, a 304, counts) and nothing it offered was refused or held back. A source still
    // serving a version refused before (held, so not re-read) has not succeeded either: otherwise
    // the metric would move on every unchanged poll while the CRL in force ages.
    const crlHeld = crlReads.some((f) => this.reads.heldVersion(f.name) === f.version);
    if (
      stage &&
      stage.rejections.length === 0 &&
      !crlHeld &&
      crlReads.length === this.opts.crls.length &&
      this.opts.crls.length > 0
    )
      this.opts.metrics.trustLastSuccess.set({ kind: 'crl' }, Date.now() / 1000);
    this.failures = sourceFailed ? this.failures + 1 : 0;
    this.updateExpiryMetrics(now);
    this.updateValidity(Date.now());
    if (!this.ca || !this.server) {
      this.lastError ??= 'trust material not loaded yet';
      return;
    }
    if (!next) return;
    this.generation = next.generation;
    this.snapshot = next;
    this.opts.logger.info({
      event: 'trust',
      msg: 'trust snapshot installed',
      generation: this.generation,
      ca_bundle_version: next.caBundleInfo.version,
      server_cert_version: next.serverInfo.version,
      cas: next.caBundle.cas.length,
      crls: next.revocation.crls.length,
    });
    this.emit('update', next);
  }

  // ---- candidates ---------------------------------------------------------------------------

  /** The CA bundle read, as a candidate; undefined when it is the one in force or held back. */
  private async caCandidate(now: number, explicit: boolean): Promise<CaCandidate | undefined> {
    const read = await this.reads.read(this.opts.caBundle, explicit);
    if (read.version === this.ca?.info.version) {
      this.opts.metrics.trustLastSuccess.set({ kind: 'ca_bundle' }, Date.now() / 1000);
      this.reads.release('ca_bundle');
      this.guardBlocked.delete('ca_bundle');
      return undefined;
    }
    if (this.reads.stillHeld('ca_bundle', read.version, read.labels, explicit)) return undefined;
    const cand = caCandidate(read, {
      source: describeSource(this.opts.caBundle),
      now,
      production: this.opts.production,
    });
    if (!isRefused(cand)) return cand;
    // A time refusal is decided again on the next poll; anything else waits for new bytes.
    if (cand.hold)
      this.reads.hold('ca_bundle', { version: read.version, labels: read.labels, why: 'invalid' });
    throw cand.refused;
  }

  /** The server certificate and key read, as a candidate; undefined when in force or held back. */
  private async serverCandidate(now: number, explicit: boolean): Promise<ServerCandidate | undefined> {
    const [cert, key] = await Promise.all([
      this.reads.read(this.opts.serverCert, explicit),
      this.reads.read(this.opts.serverKey, explicit),
    ]);
    const version = serverVersion(cert, key);
    if (version === this.server?.info.version) {
      this.opts.metrics.trustLastSuccess.set({ kind: 'server_cert' }, Date.now() / 1000);
      this.reads.release('server_cert');
      return undefined;
    }
    if (this.reads.stillHeld('server_cert', version, '', explicit)) return undefined;
    const cand = serverCandidate(cert, key, {
      source: describeSource(this.opts.serverCert),
      now,
      production: this.opts.production,
    });
    // Not valid yet (or expired, perhaps by a wrong clock): kept out for now, never held, and
    // retried on every poll and at the moment it becomes valid.
    this.serverValidFrom = isRefused(cand) ? cand.validFrom : undefined;
    if (!isRefused(cand)) return cand;
    if (cand.hold) this.reads.hold('server_cert', { version, labels: '', why: 'invalid' });
    throw cand.refused;
  }

  /**
   * The revocation index `bundle` would have with the CRLs read: verifies (off-thread) what
   * needs verifying, then builds the stage (candidates.ts). Nothing is applied until commitCrls.
   */
  private async crlStage(
    bundle: CaBundle,
    bundleChanged: boolean,
    reads: readonly CrlRead[],
    explicit: boolean,
  ): Promise<CrlStage> {
    const stillHeld = new Set(
      reads
        .filter((r) => this.reads.stillHeld(r.name, r.version, r.labels.join(','), explicit))
        .map((r) => r.name),
    );
    const verified = [];
    for (const v of crlsToVerify(reads, { inForce: this.crlSources, stillHeld, bundleChanged }))
      verified.push({ ...v, result: await parseAndVerifyCrlsOffThread(v.bytes, [bundle.pem]) });
    return crlStage({ bundle, bundleChanged, inForce: this.index, verified, now: Date.now() });
  }

  // ---- the lock-out guard ----------------------------------------------------------------------

  private guard(
    kind: 'ca_bundle' | 'crl',
    source: string,
    version: string,
    forced: boolean,
    candidate: { bundle: CaBundle; index: RevocationIndex },
  ): 'pass' | 'guard' | 'guard_time' {
    if (!this.ca) return 'pass';
    const maxRefusedPercent = this.opts.maxRefusedPercent ?? 50;
    const verdict = evaluateGuard(
      this.recentClients,
      { bundle: this.ca.bundle, index: this.index },
      candidate,
      {
        maxRefusedPercent,
        policy: this.opts.revocationPolicy ?? { graceSeconds: 0, crlRequired: false },
      },
    );
    const details = {
      event: 'trust',
      kind,
      source,
      version: version || undefined,
      active_partners: verdict.activePartners,
      refused_percent: Math.round(verdict.refusedPercent * 10) / 10,
      max_refused_percent: maxRefusedPercent,
      would_refuse: verdict.wouldRefuse.slice(0, MAX_LISTED_REFUSALS),
    };
    if (!verdict.blocked) {
      this.opts.logger.info({ ...details, result: 'guard_passed' });
      return 'pass';
    }
    if (forced) {
      this.opts.logger.warn({
        ...details,
        result: 'guard_bypassed',
        msg: 'force marker present: activating',
      });
      return 'pass';
    }
    this.opts.metrics.trustGuardBlocked.inc({ kind });
    this.emit('guardBlocked', kind);
    // Refused only because a CA is not valid yet: a question of time, not of the material. Not
    // labelled held for the fleet (it would outlive the reason), decided again on every poll, and a
    // poll is due at the earliest notBefore.
    const forTime = verdict.wouldRefuse.every((w) => w.reason === 'not_yet_valid');
    if (forTime) {
      const now = Date.now();
      const first = notYetValidCas(candidate.bundle, now)[0];
      if (first) this.guardValidFrom = Math.min(this.guardValidFrom ?? first.notBefore, first.notBefore);
    } else if (kind === 'ca_bundle') this.reads.label(this.opts.caBundle, 'held', version);
    const partners = [...new Set(verdict.wouldRefuse.map((w) => w.partner))];
    this.guardBlocked.set(kind, {
      source,
      blocked_version: version,
      at: new Date().toISOString(),
      active_partners: verdict.activePartners,
      refused_percent: details.refused_percent,
      would_refuse: details.would_refuse,
    });
    this.reject(
      kind,
      source,
      new TrustMaterialError(
        `held back by the lock-out guard: would refuse ${partners.length} of ${verdict.activePartners} ` +
          `recently active partners (${details.refused_percent}% > ${maxRefusedPercent}%): ` +
          `${partners.slice(0, 10).join(', ')}`,
      ),
      { ...details, result: 'guard_blocked' },
    );
    return forTime ? 'guard_time' : 'guard';
  }

  // ---- commit, report ------------------------------------------------------------------------

  private commitCa(cand: CaCandidate): void {
    this.ca = { bundle: cand.bundle, info: cand.info };
    this.reads.label(this.opts.caBundle, 'installed', cand.info.version);
    this.opts.metrics.trustLastChange.set({ kind: 'ca_bundle' }, Date.now() / 1000);
    this.reads.release('ca_bundle');
    this.guardBlocked.delete('ca_bundle');
    this.succeeded('ca_bundle');
    this.opts.logger.info({
      event: 'trust',
      kind: 'ca_bundle',
      source: cand.info.source,
      result: 'loaded',
      version: cand.info.version,
      forced: cand.forced || undefined,
      cas: cand.bundle.cas.map((c) => ({ subject: c.subject, fingerprint256: c.fingerprint256 })),
      warnings: cand.bundle.warnings.length > 0 ? cand.bundle.warnings : undefined,
    });
    this.opts.metrics.caNotAfter.reset();
    for (const ca of cand.bundle.cas)
      this.opts.metrics.caNotAfter.set({ subject: ca.subject }, ca.notAfter / 1000);
    this.pendingCas.clear();
    for (const ca of notYetValidCas(cand.bundle, cand.info.loadedAt)) {
      this.pendingCas.add(ca.fingerprint256);
      this.opts.logger.warn({
        event: 'trust',
        kind: 'ca_bundle',
        result: 'ca_not_yet_valid',
        msg: 'CA loaded but not valid yet: clients whose chain goes through it are refused until then',
        subject: ca.subject,
        fingerprint256: ca.fingerprint256,
        not_before: iso(ca.notBefore),
      });
    }
  }

  /**
   * Keeps the not-yet-valid metric and the wake-up timer in step with the clock: says when a
   * pending CA has become valid, and polls at the moment a refused server certificate becomes
   * valid (or the next pending CA does), instead of waiting for the next scheduled poll.
   */
  private updateValidity(now: number): void {
    const m = this.opts.metrics;
    m.caNotYetValid.reset();
    let wake: number | undefined;
    for (const at of [this.serverValidFrom, this.guardValidFrom])
      if (at !== undefined && at > now) wake = Math.min(wake ?? at, at);
    for (const ca of this.ca?.bundle.cas ?? []) {
      if (!this.pendingCas.has(ca.fingerprint256)) continue;
      if (ca.notBefore > now) {
        m.caNotYetValid.set({ subject: ca.subject }, ca.notBefore / 1000);
        wake = Math.min(wake ?? ca.notBefore, ca.notBefore);
        continue;
      }
      this.pendingCas.delete(ca.fingerprint256);
      this.opts.logger.info({
        event: 'trust',
        kind: 'ca_bundle',
        result: 'ca_now_valid',
        msg: 'CA is valid now: chains through it verify',
        subject: ca.subject,
        fingerprint256: ca.fingerprint256,
        not_before: iso(ca.notBefore),
      });
    }
    if (this.validityTimer) clearTimeout(this.validityTimer);
    this.validityTimer = undefined;
    if (wake === undefined || this.stopped) return;
    // One second past notBefore: certificate times have whole seconds, OpenSSL compares in seconds.
    const delay = Math.min(wake - now + 1_000, MAX_TIMER_MS);
    this.validityTimer = setTimeout(() => {
      this.validityTimer = undefined;
      void this.run(false);
    }, delay);
    this.validityTimer.unref();
  }

  private commitServer(cand: ServerCandidate): void {
    this.server = cand;
    this.opts.metrics.trustLastChange.set({ kind: 'server_cert' }, Date.now() / 1000);
    this.reads.release('server_cert');
    this.succeeded('server_cert');
    this.opts.logger.info({
      event: 'trust',
      kind: 'server_cert',
      source: cand.info.source,
      result: 'loaded',
      version: cand.info.version,
      subject: cand.creds.subject,
      not_after: iso(cand.creds.notAfter),
    });
  }

  /** Applies a CRL stage that survived the guard and the TLS check: reports, remembers, installs. */
  private commitCrls(stage: CrlStage): void {
    for (const r of stage.rejections) {
      this.opts.metrics.crlRejected.inc({ reason: r.code });
      this.reject('crl', r.source, new TrustMaterialError(r.reason));
    }
    for (const v of stage.invalid)
      this.reads.hold(v.source, { version: v.version, labels: v.labels, why: 'invalid' });
    for (const [name, bytes] of stage.accepted) {
      const source = this.crlSourceNamed(name);
      if (source && this.crlSources.get(name)?.version !== bytes.version)
        this.reads.label(source, 'installed', bytes.version);
      this.crlSources.set(name, bytes);
      this.reads.release(name);
    }
    for (const [crl, name] of stage.origin) this.crlOrigin.set(crl, name);
    if (stage.accepted.size > 0) this.succeeded('crl');
    if (!stage.changed) return;
    this.opts.metrics.trustLastChange.set({ kind: 'crl' }, Date.now() / 1000);
    this.index = stage.index;
    this.guardBlocked.delete('crl');
    for (const s of stage.index.summary()) {
      this.opts.logger.info({
        event: 'trust',
        kind: 'crl',
        result: 'in_force',
        issuer: s.issuer,
        entries: s.entries,
        crl_number: s.crlNumber,
        this_update: iso(s.thisUpdate),
        next_update: iso(s.nextUpdate),
      });
    }
  }

  private refuseCandidate(
    kind: TrustKind,
    source: string,
    version: string,
    labels: string,
    err: Error,
  ): void {
    this.reads.hold(kind === 'crl' ? source : kind, { version, labels, why: 'invalid' });
    this.reject(kind, source, err);
  }

  private succeeded(kind: TrustKind): void {
    this.opts.metrics.trustReloads.inc({ kind, result: 'success' });
    this.opts.metrics.trustLastSuccess.set({ kind }, Date.now() / 1000);
  }

  private crlSourceNamed(name: string): Source | undefined {
    return this.opts.crls.find((c) => describeSource(c) === name);
  }

  private reject(kind: TrustKind, source: string, err: Error, extra: Record<string, unknown> = {}): void {
    // A library's message may quote the URL it was given: shown only without secrets.
    const reason = redactUrlsIn(err.message);
    this.lastError = `${kind} from ${source}: ${reason}`;
    this.opts.metrics.trustReloads.inc({ kind, result: 'failure' });
    const now = Date.now();
    const key = `${kind}\0${source}\0${this.reads.lastVersionRead(source) ?? ''}\0${reason}`;
    const last = this.rejectionSeen.get(key);
    if (last && now - last.at < REPEATED_REJECTION_MS) {
      last.repeats++; // still refused (and still retried): said again within the hour, counted
      return;
    }
    if (this.rejectionSeen.size >= 256) {
      for (const [k, v] of this.rejectionSeen)
        if (now - v.at >= REPEATED_REJECTION_MS) this.rejectionSeen.delete(k);
      if (this.rejectionSeen.size >= 256) this.rejectionSeen.clear();
    }
    this.rejectionSeen.set(key, { at: now, repeats: 0 });
    this.opts.logger.error({
      event: 'trust',
      kind,
      source,
      result: 'rejected',
      reason,
      repeated: last?.repeats || undefined,
      error_code: errorCode(err),
      kept:
        kind === 'ca_bundle'
          ? this.ca?.info.version
          : kind === 'server_cert'
            ? this.server?.info.version
            : undefined,
      ...extra,
    });
    this.rejections.unshift({ kind, source, at: new Date().toISOString(), reason });
    this.rejections.length = Math.min(this.rejections.length, MAX_REJECTIONS);
  }

  private updateExpiryMetrics(now: number): void {
    const m = this.opts.metrics;
    this.reportServerExpiry(now);
    m.crlNextUpdate.reset();
    m.crlEntries.reset();
    m.crlNearExpiry.reset();
    // Several CRLs can share an issuer name (same-name CAs of different keys, partitions): each
    // gauge shows the worst of them (earliest nextUpdate, any near expiry), entries are summed.
    const entries = new Map<string, number>();
    const earliest = new Map<string, number>();
    const nearAny = new Map<string, boolean>();
    for (const crl of this.index.summary()) {
      entries.set(crl.issuer, (entries.get(crl.issuer) ?? 0) + crl.entries);
      m.crlEntries.set({ issuer: crl.issuer }, entries.get(crl.issuer)!);
      if (crl.nextUpdate === undefined) continue;
      earliest.set(crl.issuer, Math.min(earliest.get(crl.issuer) ?? Infinity, crl.nextUpdate));
      m.crlNextUpdate.set({ issuer: crl.issuer }, earliest.get(crl.issuer)! / 1000);
      const window = crl.nextUpdate - crl.thisUpdate;
      const near = now >= crl.nextUpdate - window * 0.25;
      nearAny.set(crl.issuer, near || nearAny.get(crl.issuer) === true);
      m.crlNearExpiry.set({ issuer: crl.issuer }, nearAny.get(crl.issuer) ? 1 : 0);
      if (near) {
        this.opts.logger.warn({
          event: 'trust',
          kind: 'crl',
          msg: now > crl.nextUpdate ? 'CRL is past its nextUpdate' : 'CRL is close to its nextUpdate',
          issuer: crl.issuer,
          next_update: iso(crl.nextUpdate),
        });
      }
    }
  }

  /**
   * The server certificate's notAfter as a gauge, and as a log line with the days left on each
   * new certificate and then hourly (what the CloudWatch alarm on "expires within 14 days" reads).
   */
  private reportServerExpiry(now: number): void {
    const server = this.server;
    if (!server) return;
    const notAfter = server.creds.notAfter;
    this.opts.metrics.serverCertNotAfter.set(notAfter / 1000);
    const last = this.serverExpiryLogged;
    if (last && last.version === server.info.version && now - last.at < SERVER_EXPIRY_LOG_MS) return;
    this.serverExpiryLogged = { version: server.info.version, at: now };
    const daysLeft = Math.floor((notAfter - now) / 86_400_000);
    this.opts.logger[daysLeft < 14 ? 'warn' : 'info']({
      event: 'trust',
      kind: 'server_cert',
      msg: 'server certificate expiry',
      subject: server.creds.subject,
      not_after: iso(notAfter),
      days_left: daysLeft,
    });
  }

  /** The /trust document (trust-status.ts). */
  status(): TrustStatus {
    return trustStatus({
      ca: this.ca,
      server: this.server,
      crls: this.index.crls.map((crl) => {
        const source = this.crlOrigin.get(crl);
        return {
          crl,
          source,
          version: source === undefined ? undefined : this.crlSources.get(source)?.version,
        };
      }),
      fleetHeld: this.reads.fleetHolds(),
      maxRefusedPercent: this.opts.maxRefusedPercent ?? 50,
      recentClients: this.recentClients.size,
      guardHolds: {
        ca_bundle: this.guardBlocked.get('ca_bundle') ?? null,
        crl: this.guardBlocked.get('crl') ?? null,
      },
      rejections: this.rejections,
    });
  }
}
