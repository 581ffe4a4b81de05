/**
 * The TrustStore polls every source (CA bundle, CRLs, server certificate and key), validates what
 * changed, and publishes a whole new TrustSnapshot only from material that passed validation.
 * Failure never removes good material: the last good CA bundle, server credentials and CRLs stay
 * in force, the rejection is logged, counted and listed in /trust. A CRL never replaces a newer
 * one of the same issuer, and CRLs are re-verified whenever the CA bundle changes.
 */
import { EventEmitter } from 'node:events';
import type { Source } from '../config/config.js';
import type { Logger, Metrics, TrustKind } from '../observability/index.js';
import { type CaBundle, parseCaBundle, TrustMaterialError } from './ca-bundle.js';
import { parseAndVerifyCrlsOffThread } from './crl/crl-worker.js';
import type { VerifiedCrl } from './crl/verify-crl.js';
import { isNewerCrl, RevocationIndex } from './revocation-index.js';
import { parseServerCredentials, type ServerCredentials } from './server-credentials.js';
import type { LoadedMaterial, TrustSnapshot } from './snapshot.js';
import { describeSource, type Fetched, fetchSource } from './sources.js';

export interface TrustStoreOptions {
  readonly caBundle: Source;
  readonly serverCert: Source;
  readonly serverKey: Source;
  readonly crls: readonly Source[];
  readonly refreshSeconds: number;
  readonly production: boolean;
  readonly logger: Logger;
  readonly metrics: Metrics;
}

export interface Rejection {
  readonly kind: TrustKind;
  readonly source: string;
  readonly at: string;
  readonly reason: string;
}

interface CrlSourceState {
  version: string;
  bytes: Buffer;
}

const MAX_REJECTIONS = 20;
const iso = (ms: number | undefined): string | null => (ms === undefined ? null : new Date(ms).toISOString());

export class TrustStore extends EventEmitter<{ update: [TrustSnapshot] }> {
  private snapshot: TrustSnapshot | undefined;
  private ca: { bundle: CaBundle; info: LoadedMaterial } | undefined;
  private server: { creds: ServerCredentials; info: LoadedMaterial } | undefined;
  private index: RevocationIndex = RevocationIndex.EMPTY;
  private readonly crlSources = new Map<string, CrlSourceState>();
  private readonly crlOrigin = new WeakMap<VerifiedCrl, string>();
  private readonly rejections: Rejection[] = [];
  private generation = 0;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private failures = 0;
  private lastError: string | undefined;
  private stopped = false;

  constructor(private readonly opts: TrustStoreOptions) {
    super();
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
    await this.refresh();
    this.schedule();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
  }

  private schedule(): void {
    if (this.stopped) return;
    // Back off from 1 s while nothing is loaded or sources fail; the normal period otherwise.
    const period = this.opts.refreshSeconds * 1000;
    const delay = this.failures > 0 ? Math.min(period, 1000 * 2 ** Math.min(this.failures - 1, 10)) : period;
    this.timer = setTimeout(() => {
      this.refresh().finally(() => this.schedule());
    }, delay);
    this.timer.unref();
  }

  /** Polls every source once (concurrent calls share one run). */
  refresh(): Promise<void> {
    this.running ??= this.refreshOnce().finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  private async refreshOnce(): Promise<void> {
    let failed = false;
    const now = Date.now();
    const caChanged = await this.refreshCaBundle(now).catch((err: Error) => {
      failed = true;
      this.reject('ca_bundle', describeSource(this.opts.caBundle), err);
      return false;
    });
    const serverChanged = await this.refreshServer(now).catch((err: Error) => {
      failed = true;
      this.reject('server_cert', describeSource(this.opts.serverCert), err);
      return false;
    });
    const crlChanged = this.ca ? await this.refreshCrls(caChanged) : false;
    if (crlChanged === 'failed') failed = true;
    this.failures = failed ? this.failures + 1 : 0;
    this.updateExpiryMetrics(now);
    if (!this.ca || !this.server) {
      this.lastError ??= 'trust material not loaded yet';
      return;
    }
    if (!caChanged && !serverChanged && crlChanged !== true && this.snapshot) return;
    this.snapshot = {
      generation: ++this.generation,
      caBundle: this.ca.bundle,
      caBundleInfo: this.ca.info,
      server: this.server.creds,
      serverInfo: this.server.info,
      revocation: this.index,
    };
    this.opts.logger.info({
      event: 'trust',
      msg: 'trust snapshot installed',
      generation: this.generation,
      cas: this.ca.bundle.cas.length,
      crls: this.index.crls.length,
    });
    this.emit('update', this.snapshot);
  }

  private succeeded(kind: TrustKind): void {
    this.opts.metrics.trustReloads.inc({ kind, result: 'success' });
    this.opts.metrics.trustLastSuccess.set({ kind }, Date.now() / 1000);
  }

  private reject(kind: TrustKind, source: string, err: Error): void {
    const reason = err.message;
    this.lastError = `${kind} from ${source}: ${reason}`;
    this.opts.metrics.trustReloads.inc({ kind, result: 'failure' });
    this.opts.logger.error({
      event: 'trust',
      kind,
      source,
      result: 'rejected',
      reason,
      error_code: (err as { code?: string }).code,
      kept:
        kind === 'ca_bundle'
          ? this.ca?.info.version
          : kind === 'server_cert'
            ? this.server?.info.version
            : undefined,
    });
    this.rejections.unshift({ kind, source, at: new Date().toISOString(), reason });
    this.rejections.length = Math.min(this.rejections.length, MAX_REJECTIONS);
  }

  private async refreshCaBundle(now: number): Promise<boolean> {
    const source = describeSource(this.opts.caBundle);
    const fetched = await fetchSource(this.opts.caBundle);
    if (this.ca && fetched.version === this.ca.info.version) {
      this.opts.metrics.trustLastSuccess.set({ kind: 'ca_bundle' }, Date.now() / 1000);
      return false;
    }
    const bundle = parseCaBundle(fetched.bytes, { now, production: this.opts.production });
    this.ca = { bundle, info: { source, version: fetched.version, loadedAt: now } };
    this.succeeded('ca_bundle');
    this.opts.logger.info({
      event: 'trust',
      kind: 'ca_bundle',
      source,
      result: 'loaded',
      version: fetched.version,
      cas: bundle.cas.map((c) => ({ subject: c.subject, fingerprint256: c.fingerprint256 })),
      warnings: bundle.warnings.length > 0 ? bundle.warnings : undefined,
    });
    this.opts.metrics.caNotAfter.reset();
    for (const ca of bundle.cas)
      this.opts.metrics.caNotAfter.set({ subject: ca.subject }, ca.notAfter / 1000);
    return true;
  }

  private async refreshServer(now: number): Promise<boolean> {
    const source = describeSource(this.opts.serverCert);
    const [cert, key] = await Promise.all([
      fetchSource(this.opts.serverCert),
      fetchSource(this.opts.serverKey),
    ]);
    const version = `${cert.version}.${key.version}`;
    if (this.server && version === this.server.info.version) {
      this.opts.metrics.trustLastSuccess.set({ kind: 'server_cert' }, Date.now() / 1000);
      return false;
    }
    const creds = parseServerCredentials(cert.bytes, key.bytes, { now, production: this.opts.production });
    this.server = { creds, info: { source, version, loadedAt: now } };
    this.succeeded('server_cert');
    this.opts.logger.info({
      event: 'trust',
      kind: 'server_cert',
      source,
      result: 'loaded',
      version,
      subject: creds.subject,
      not_after: iso(creds.notAfter),
    });
    return true;
  }

  /** Returns true when the index changed, 'failed' when a source could not be used. */
  private async refreshCrls(caChanged: boolean): Promise<boolean | 'failed'> {
    const bundle = this.ca!.bundle;
    let failed = false;
    const offered: VerifiedCrl[] = [];
    const fetchedAll = await Promise.all(
      this.opts.crls.map(async (source) => {
        const name = describeSource(source);
        try {
          return { name, fetched: await fetchSource(source) };
        } catch (err) {
          failed = true;
          this.reject('crl', name, err as Error);
          return { name, fetched: undefined };
        }
      }),
    );
    for (const { name, fetched } of fetchedAll) {
      const previous = this.crlSources.get(name);
      const changed = fetched !== undefined && fetched.version !== previous?.version;
      // A changed CA bundle means every CRL must be verified again against the new CAs.
      const input: Fetched | CrlSourceState | undefined = changed
        ? fetched
        : caChanged
          ? previous
          : undefined;
      if (!input) continue;
      const result = await parseAndVerifyCrlsOffThread(input.bytes, [bundle.pem]);
      for (const r of result.rejected) {
        this.opts.metrics.crlRejected.inc({ reason: r.code });
        this.reject(
          'crl',
          name,
          new TrustMaterialError(r.issuer ? `${r.reason} (issuer ${r.issuer})` : r.reason),
        );
      }
      if (result.accepted.length === 0 && result.rejected.length > 0) {
        failed = true;
        if (changed) continue; // keep the previous bytes so a later CA change re-verifies them
      }
      for (const crl of result.accepted) this.crlOrigin.set(crl, name);
      offered.push(...result.accepted);
      if (changed && fetched) this.crlSources.set(name, { version: fetched.version, bytes: fetched.bytes });
      if (result.accepted.length > 0) this.succeeded('crl');
    }
    if (offered.length === 0 && !caChanged) return failed ? 'failed' : false;

    // CRLs whose signing CA left the bundle no longer count; the rest compete with the offered ones.
    const base = caChanged
      ? this.index.without((crl) => !bundle.byFingerprint.has(crl.signedBy.fingerprint256))
      : this.index;
    const { index, superseded } = base.withOffered(offered);
    for (const crl of superseded) {
      if (!offered.includes(crl)) continue;
      const inForce = index.crls.find((c) => c.issuer === crl.issuer && isNewerCrl(c, crl));
      if (!inForce) continue; // the same CRL offered again: unchanged, not a rejection
      this.opts.metrics.crlRejected.inc({ reason: 'CRL_OLDER' });
      this.reject(
        'crl',
        this.crlOrigin.get(crl) ?? 'unknown',
        new TrustMaterialError(`CRL of ${crl.issuer} is older than the one in force; kept the newer one`),
      );
    }
    const changedIndex =
      index.crls.length !== this.index.crls.length || index.crls.some((c, i) => c !== this.index.crls[i]);
    if (changedIndex) {
      this.index = index;
      for (const s of index.summary()) {
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
    return failed && !changedIndex ? 'failed' : changedIndex;
  }

  private updateExpiryMetrics(now: number): void {
    const m = this.opts.metrics;
    m.crlNextUpdate.reset();
    m.crlEntries.reset();
    m.crlNearExpiry.reset();
    for (const crl of this.index.summary()) {
      m.crlEntries.set({ issuer: crl.issuer }, crl.entries);
      if (crl.nextUpdate === undefined) continue;
      m.crlNextUpdate.set({ issuer: crl.issuer }, crl.nextUpdate / 1000);
      const window = crl.nextUpdate - crl.thisUpdate;
      const near = now >= crl.nextUpdate - window * 0.25;
      m.crlNearExpiry.set({ issuer: crl.issuer }, near ? 1 : 0);
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

  /** The /trust document (design.md). */
  status(): unknown {
    const ca = this.ca;
    const server = this.server;
    return {
      ca_bundle: ca
        ? {
            source: ca.info.source,
            version: ca.info.version,
            loaded_at: iso(ca.info.loadedAt),
            cas: ca.bundle.cas.map((c) => ({
              subject: c.subject,
              fingerprint256: c.fingerprint256,
              not_before: iso(c.notBefore),
              not_after: iso(c.notAfter),
            })),
          }
        : null,
      crls: this.index.crls.map((crl) => ({
        issuer: crl.issuer,
        source: this.crlOrigin.get(crl) ?? null,
        this_update: iso(crl.thisUpdate),
        next_update: iso(crl.nextUpdate),
        entries: crl.revoked.count,
        crl_number: crl.crlNumber?.toString() ?? null,
      })),
      server_cert: server
        ? {
            source: server.info.source,
            version: server.info.version,
            subject: server.creds.subject,
            not_after: iso(server.creds.notAfter),
          }
        : null,
      last_rejected: this.rejections,
    };
  }
}
