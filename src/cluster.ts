/**
 * Cluster mode (GATEWAY_WORKERS > 1): one primary and N worker processes sharing the TLS port.
 *
 * The primary alone reads the trust sources (a task polls Secrets Manager once, not once per
 * worker) and relays every fresh read to the workers, which validate and install it with their own
 * TrustStore, so no worker trusts material the gateway's checks did not pass. The primary alone
 * runs the lock-out guard, with the verified clients every worker reports: a version it holds back
 * is never relayed, so the task makes one decision, as a single process would. The primary also owns
 * the admin listener (readiness of all workers, /trust, /metrics aggregated over the workers),
 * derives the session-ticket keys every worker uses from the trust material in force (a client
 * resumes on any worker, and no ticket outlives a trust change), replaces a worker that dies, and on
 * SIGTERM drains them all.
 */
import cluster, { type Worker } from 'node:cluster';
import { createHmac, randomBytes } from 'node:crypto';
import { AggregatorRegistry, type PrometheusContentType } from 'prom-client';
import { AdminServer } from './admin/index.js';
import type { Config } from './config/config.js';
import { Gateway } from './gateway.js';
import { armHardExit } from './hard-exit.js';
import { createLogger, createMetrics, flushLogsSync, type Logger } from './observability/index.js';
import { ReloadRequests } from './trust/reload-requests.js';
import type { VerifiedClient } from './trust/rotation-guard.js';
import type { TrustSnapshot } from './trust/snapshot.js';
import {
  describeSource,
  type FetchResult,
  fetchSource,
  isUnchanged,
  SourceError,
} from './trust/sources/index.js';
import type { FetchOptions } from './trust/sources/types.js';
import { TrustStore, trustSettingsOf } from './trust/trust-store.js';

type Source = Config['caBundle'];

/** Messages between primary and workers (IPC, advanced serialization: Buffers pass as is). */
type ToWorker =
  | {
      readonly type: 'source';
      readonly name: string;
      readonly version: string;
      readonly labels: readonly string[];
      readonly bytes: Buffer;
    }
  | { readonly type: 'refresh' }
  | { readonly type: 'ticket-secret'; readonly secret: Buffer }
  | { readonly type: 'guard-blocked'; readonly kind: 'ca_bundle' | 'crl' }
  | { readonly type: 'drain' };
type ToPrimary =
  | { readonly type: 'hello' }
  | { readonly type: 'ready' }
  | { readonly type: 'client'; readonly client: VerifiedClient };

/** A worker reports a verified client to its primary at most this often (the guard's window is 24 h). */
const CLIENT_REPORT_MS = 60_000;
const MAX_REPORTED = 10_000;

interface Relayed {
  readonly version: string;
  readonly labels: readonly string[];
  readonly bytes: Buffer;
}

/**
 * Session-ticket keys for a snapshot: the same in every worker holding the same trust material,
 * different after any change of it (CA bundle, server certificate, CRLs in force).
 */
export function ticketKeysFor(secret: Buffer, snapshot: TrustSnapshot): Buffer {
  const crls = snapshot.revocation.crls.map((c) => `${c.issuer}|${c.crlNumber ?? ''}|${c.thisUpdate}`).sort();
  const material = JSON.stringify([snapshot.caBundleInfo.version, snapshot.serverInfo.version, crls]);
  return createHmac('sha384', secret).update(material).digest(); // 48 bytes, as setTicketKeys wants
}

// ---- primary ------------------------------------------------------------------------------

/**
 * `beforeReload` runs first in each coalesced SIGHUP reload (the GATEWAY_CONFIG=ssm: parameter
 * read), so a burst of signals costs at most two of those reads, as it does of trust reloads.
 */
export async function runPrimary(
  config: Config,
  workers: number,
  beforeReload: () => Promise<void> = async () => undefined,
): Promise<void> {
  const logger = createLogger(config.logLevel, undefined, {
    maxBufferBytes: config.logBufferBytes,
    format: config.logFormat,
  });
  const relayed = new Map<string, Relayed>();
  const ticketSecret = randomBytes(48);
  const ready = new Set<number>();
  let draining = false;

  cluster.setupPrimary({ serialization: 'advanced' });
  const send = (w: Worker, msg: ToWorker): void => {
    if (w.isConnected()) w.send(msg);
  };
  const broadcast = (msg: ToWorker): void => {
    for (const w of Object.values(cluster.workers ?? {})) if (w) send(w, msg);
  };

  /** The latest fresh read of each source; relayed after the primary's poll has decided on it. */
  const fetched = new Map<string, Relayed>();
  const relayingFetch = async (source: Source, opts: FetchOptions): Promise<FetchResult> => {
    const result = await fetchSource(source, opts);
    if (!isUnchanged(result)) {
      fetched.set(describeSource(source), {
        version: result.version,
        labels: result.labels,
        bytes: result.bytes,
      });
    }
    return result;
  };

  // The primary alone runs the lock-out guard, with the verified clients of every worker, and
  // labels the fleet's decisions: one decision per task, whatever the number of workers. Its
  // metrics stay private (the workers' are exported; a hold is counted in each worker).
  const trust = new TrustStore({
    ...trustSettingsOf(config),
    logger: logger.child({ role: 'primary' }),
    metrics: createMetrics({ defaultMetrics: false }),
    maxRefusedPercent: config.rotationMaxRefusedPercent,
    fetch: relayingFetch,
  });
  // After each poll, workers get every fresh read except a version the guard holds back: they keep
  // what they serve. (Material that fails validation is relayed and refused by them as by us.)
  trust.on('polled', () => {
    const held = trust.guardHeldVersions();
    let changed = false;
    for (const [name, r] of fetched) {
      if (held.get(name) === r.version) continue;
      const before = relayed.get(name);
      if (before?.version === r.version && before.labels.join(',') === r.labels.join(',')) continue;
      relayed.set(name, r);
      broadcast({ type: 'source', name, ...r });
      changed = true;
    }
    if (changed) broadcast({ type: 'refresh' });
  });
  trust.on('guardBlocked', (kind) => broadcast({ type: 'guard-blocked', kind }));

  const fork = (): void => {
    const w = cluster.fork();
    w.on('message', (msg: ToPrimary) => {
      if (msg.type === 'hello') {
        // The worker listens now (a message sent before that would be lost): hand it everything.
        send(w, { type: 'ticket-secret', secret: ticketSecret });
        for (const [name, r] of relayed) send(w, { type: 'source', name, ...r });
        send(w, { type: 'refresh' });
      } else if (msg.type === 'ready') ready.add(w.id);
      else if (msg.type === 'client') {
        const c = msg.client;
        trust.recordVerifiedClient({
          partnerId: c.partnerId,
          fingerprint256: c.fingerprint256,
          leafDer: Buffer.from(c.leafDer),
          sentDer: c.sentDer.map((d) => Buffer.from(d)),
        });
      }
      // Anything else on this channel is prom-client's metrics exchange.
    });
  };

  cluster.on('exit', (w, code, signal) => {
    ready.delete(w.id);
    if (draining) return;
    logger.error({
      event: 'lifecycle',
      msg: 'worker died; starting a replacement',
      worker: w.id,
      code,
      signal,
    });
    fork();
  });

  const aggregator = new AggregatorRegistry<PrometheusContentType>();
  const admin = new AdminServer({
    registry: aggregator,
    metricsText: () => aggregator.clusterMetrics(),
    notReadyReason: () => {
      if (draining) return 'draining';
      if (!trust.current) return trust.notReadyReason ?? 'trust material not loaded';
      if (ready.size < workers) return `${ready.size} of ${workers} workers ready`;
      return undefined;
    },
    trustStatus: () => trust.status(),
  });

  logger.info({
    event: 'lifecycle',
    msg: `${workers} workers`,
    workers,
    workers_reason: config.workersReason,
  });
  await trust.start();
  for (let i = 0; i < workers; i++) fork();
  const address = await admin.listen(config.adminListen.host, config.adminListen.port);
  logger.info({ event: 'lifecycle', msg: 'admin listening', address, workers });

  const drain = (signal: string): void => {
    if (draining) return;
    draining = true;
    armHardExit(config.drainSeconds);
    logger.info({ event: 'lifecycle', msg: `received ${signal}; draining ${workers} workers` });
    trust.stop();
    const alive = Object.values(cluster.workers ?? {}).filter((w): w is Worker => w !== undefined);
    let worst = 0;
    let left = alive.length;
    const done = (): void => {
      void admin.close().then(() => {
        logger.info({ event: 'lifecycle', msg: 'stopped', clean: worst === 0 });
        flushLogsSync();
        process.exit(worst === 0 ? 0 : 1);
      });
    };
    if (left === 0) {
      done();
      return;
    }
    for (const w of alive) {
      w.once('exit', (code) => {
        worst = Math.max(worst, code ?? 1);
        if (--left === 0) done();
      });
      send(w, { type: 'drain' });
    }
  };
  process.on('SIGTERM', () => drain('SIGTERM'));
  process.on('SIGINT', () => drain('SIGINT'));
  const reloads = new ReloadRequests(async () => {
    await beforeReload();
    await trust.refresh();
  }, logger);
  process.on('SIGHUP', () => {
    logger.info({ event: 'trust', msg: 'SIGHUP: reloading trust material' });
    reloads.request();
  });
}

// ---- worker -------------------------------------------------------------------------------

export async function runWorker(config: Config): Promise<void> {
  const relayed = new Map<string, Relayed>();
  let ticketSecret: Buffer | undefined;
  /** Verified clients for the primary's guard: each fingerprint at most once a minute. */
  const reportedAt = new Map<string, number>();
  const reportClient = (client: VerifiedClient): void => {
    const now = Date.now();
    if (now - (reportedAt.get(client.fingerprint256) ?? 0) < CLIENT_REPORT_MS) return;
    if (reportedAt.size >= MAX_REPORTED) reportedAt.clear();
    reportedAt.set(client.fingerprint256, now);
    process.send?.({ type: 'client', client } satisfies ToPrimary);
  };
  /** The worker's sources: what the primary relayed, never a network read of its own. */
  const relayFetch = async (source: Source, opts: FetchOptions): Promise<FetchResult> => {
    const name = describeSource(source);
    const r = relayed.get(name);
    if (!r) throw new SourceError(name, 'NOT_RELAYED', 'not received from the primary yet');
    if (opts.knownVersion === r.version) return { unchanged: true, version: r.version, labels: r.labels };
    return { bytes: r.bytes, version: r.version, labels: r.labels };
  };
  let gateway: Gateway | undefined;
  const pending: ToWorker[] = [];
  let firstRelay: () => void = () => undefined;
  const relayArrived = new Promise<void>((resolve) => {
    firstRelay = resolve;
  });
  const onMessage = (msg: ToWorker): void => {
    switch (msg.type) {
      case 'source':
        relayed.set(msg.name, { version: msg.version, labels: msg.labels, bytes: Buffer.from(msg.bytes) });
        return;
      case 'ticket-secret':
        ticketSecret = Buffer.from(msg.secret);
        return;
      case 'refresh':
        firstRelay();
        if (gateway) void gateway.reloadTrust();
        else pending.push(msg);
        return;
      case 'guard-blocked':
        gateway?.metrics.trustGuardBlocked.inc({ kind: msg.kind });
        return;
      case 'drain':
        armHardExit(config.drainSeconds);
        if (!gateway) process.exit(0);
        void gateway.drain().then((clean) => {
          flushLogsSync();
          process.exit(clean ? 0 : 1);
        });
        return;
    }
  };
  process.on('message', onMessage);
  process.send?.({ type: 'hello' } satisfies ToPrimary);
  // SIGTERM goes to the whole process group in a container: the primary decides when to drain.
  process.on('SIGTERM', () => undefined);
  process.on('SIGINT', () => undefined);

  // The primary relays what it has read before the first refresh: start only once it is here.
  await relayArrived;
  pending.length = 0;
  const logger: Logger = createLogger(config.logLevel, undefined, {
    batch: false,
    maxBufferBytes: config.logBufferBytes,
    format: config.logFormat,
  }).child({
    worker: cluster.worker?.id,
    pid: process.pid,
  });
  gateway = await Gateway.start(config, {
    logger,
    admin: false,
    fetchSource: relayFetch,
    decidedByPrimary: { reportClient },
    ticketKeys: (snapshot) => ticketKeysFor(ticketSecret ?? randomBytes(48), snapshot),
  });
  // The primary's /metrics asks each worker over IPC; prom-client only answers in a process that
  // constructed an AggregatorRegistry, so one is made here for that side effect.
  AggregatorRegistry.setRegistries([gateway.metrics.registry]);
  new AggregatorRegistry();
  for (const msg of pending.splice(0)) onMessage(msg);
  await gateway.whenListening();
  process.send?.({ type: 'ready' } satisfies ToPrimary);
}
