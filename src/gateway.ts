/**
 * The composition root: builds every part from Config, wires them, starts them, and hands stop
 * to the lifecycle. Data flows one way, each part receiving the interfaces it needs at
 * construction: TrustStore → TlsListener (gate, ConnectionDecorator) → request handler
 * (Authorizer, RequestLifecycle) → Upstreams. docs/architecture.md walks both paths.
 */
import type { AddressInfo } from 'node:net';
import { createSecureContext } from 'node:tls';
import { AdminServer, ExpiryRadar } from './admin/index.js';
import type { Config } from './config/config.js';
import { readGatewayConfigFile } from './config/gateway-config-file.js';
import { Lifecycle } from './lifecycle.js';
import { createLogger, createMetrics, FdWatch, type Logger, type Metrics } from './observability/index.js';
import { RequestAuthorizer } from './policy/index.js';
import { clientErrorResponder } from './proxy/client-errors.js';
import { createRequestHandler } from './proxy/request-handler.js';
import { type RequestLimits, requestLimitsOf } from './proxy/request-limits.js';
import { upstreamHeaderOptionsOf } from './proxy/upstream-headers.js';
import { Upstreams } from './proxy/upstreams.js';
import type { RevocationPolicy } from './tls/connection-gate.js';
import { InFlightRejudge } from './tls/in-flight-rejudge.js';
import { listenerSettingsOf, TlsListener } from './tls/listener.js';
import { secureContextOptions } from './tls/secure-context.js';
import type { VerifiedClient } from './trust/rotation-guard.js';
import type { TrustSnapshot } from './trust/snapshot.js';
import { TrustStore, type TrustStoreOptions, trustSettingsOf } from './trust/trust-store.js';

export interface GatewayDeps {
  readonly logger?: Logger;
  readonly metrics?: Metrics;
  /** false in a cluster worker: the primary owns the admin listener. */
  readonly admin?: boolean;
  /** How trust sources are read (cluster workers: what the primary relayed). */
  readonly fetchSource?: TrustStoreOptions['fetch'];
  /** Session-ticket keys for a snapshot (cluster: the same in every worker); default random. */
  readonly ticketKeys?: (snapshot: TrustSnapshot) => Buffer;
  /**
   * Cluster workers: the primary runs the lock-out guard for the whole task and labels the fleet's
   * decisions; the worker's own store installs what the primary relayed (guard off, no labels) and
   * reports each verified client to the primary instead.
   */
  readonly decidedByPrimary?: { readonly reportClient: (client: VerifiedClient) => void };
}

export class Gateway {
  readonly logger: Logger;
  readonly metrics: Metrics;
  readonly trust: TrustStore;
  readonly radar: ExpiryRadar;
  adminAddress: AddressInfo | undefined;
  private listener: TlsListener | undefined;
  private readonly admin: AdminServer;
  private readonly upstreams: Upstreams;
  private readonly authorizer: RequestAuthorizer;
  private readonly lifecycle: Lifecycle;
  private readonly fdWatch: FdWatch;
  private readonly limits: RequestLimits;
  /** The revocation rules of the configuration, applied by the gate and on every request. */
  private readonly revocationPolicy: RevocationPolicy;
  /** Cuts in-flight responses of connections a trust change refuses (explain mode too). */
  private readonly rejudge: InFlightRejudge;

  private constructor(
    readonly config: Config,
    private readonly deps: GatewayDeps,
  ) {
    this.limits = requestLimitsOf(config);
    this.logger =
      deps.logger ??
      createLogger(config.logLevel, undefined, {
        maxBufferBytes: config.logBufferBytes,
        format: config.logFormat,
      });
    this.metrics = deps.metrics ?? createMetrics();
    const { logger, metrics, limits } = this;
    const settings = trustSettingsOf(config);
    this.revocationPolicy = settings.revocationPolicy;
    this.trust = new TrustStore({
      ...settings,
      logger,
      metrics,
      maxRefusedPercent: deps.decidedByPrimary ? 100 : config.rotationMaxRefusedPercent,
      ...(deps.decidedByPrimary ? { label: null } : {}),
      // A trial context from the listener's own option builder: OpenSSL must accept it before swap.
      checkSnapshot: (s) => createSecureContext(secureContextOptions(s.caBundle, s.server)),
      ...(deps.fetchSource ? { fetch: deps.fetchSource } : {}),
    });
    this.upstreams = Upstreams.of(config);
    this.radar = new ExpiryRadar({ logger, metrics });
    this.authorizer = new RequestAuthorizer({
      config,
      limits,
      readPolicyFile: readGatewayConfigFile,
      revocationPolicy: settings.revocationPolicy,
      trust: this.trust,
      radar: this.radar,
      upstreams: this.upstreams,
      reportClient:
        deps.decidedByPrimary?.reportClient ?? ((client) => this.trust.recordVerifiedClient(client)),
      logger,
      metrics,
    });
    this.fdWatch = new FdWatch(logger, metrics);
    this.admin = new AdminServer({
      registry: metrics.registry,
      notReadyReason: () => this.lifecycle.notReadyReason(),
      trustStatus: () => this.trust.status(),
      expiringClientCerts: () => this.radar.report(),
    });
    this.rejudge = new InFlightRejudge({
      connections: () => this.lifecycle.connections(),
      current: () => this.trust.current,
      policy: settings.revocationPolicy,
      logger,
      metrics,
    });
    this.lifecycle = new Lifecycle({
      logger,
      drainSeconds: config.drainSeconds,
      parts: {
        trust: this.trust,
        sources: [this.fdWatch, this.trust],
        afterDrain: [this.rejudge],
        upstreams: this.upstreams,
        admin: this.admin,
      },
    });
  }

  static async start(config: Config, deps: GatewayDeps = {}): Promise<Gateway> {
    const gw = new Gateway(config, deps);
    gw.fdWatch.checkBudget(config.limits.maxConnections, gw.upstreams.maxSockets);
    gw.fdWatch.start();
    await gw.trust.start();
    // Registered after the first load: that snapshot is installed below, later ones by swap.
    gw.trust.on('update', (snapshot: TrustSnapshot) => gw.onTrustUpdate(snapshot));
    // The policy file is re-read with the trust refresh (a no-op when unchanged); the radar sweeps then too.
    gw.lifecycle.repeat(config.trustRefreshSeconds, () => {
      gw.authorizer.reload();
      gw.radar.sweep();
    });
    if (deps.admin !== false) {
      gw.adminAddress = await gw.admin.listen(config.adminListen.host, config.adminListen.port);
      gw.admin.server.on('error', (err: NodeJS.ErrnoException) => gw.fdWatch.acceptFailed('admin', err));
      gw.logger.info({ event: 'lifecycle', msg: 'admin listening', address: gw.adminAddress });
    }
    const snapshot = gw.trust.current;
    if (snapshot) await gw.startListener(snapshot);
    gw.rejudge.schedule(snapshot);
    return gw;
  }

  /** The TLS listener's address, once trust material has loaded and it listens. */
  get tlsAddress(): AddressInfo | undefined {
    return this.lifecycle.tlsAddress;
  }

  whenListening(): Promise<AddressInfo> {
    return this.lifecycle.whenListening();
  }

  private onTrustUpdate(snapshot: TrustSnapshot): void {
    if (this.listener) {
      this.listener.swap(snapshot);
      this.rejudge.onTrustChange(snapshot);
    } else if (!this.lifecycle.isDraining()) {
      this.startListener(snapshot).catch((err: Error) => {
        this.logger.fatal({ event: 'lifecycle', msg: 'TLS listener failed', error: err.message });
        process.exitCode = 1;
      });
    }
  }

  private async startListener(snapshot: TrustSnapshot): Promise<void> {
    const { config, logger, metrics } = this;
    const listener = new TlsListener(snapshot, {
      ...listenerSettingsOf(config),
      ...(this.deps.ticketKeys ? { ticketKeys: this.deps.ticketKeys } : {}),
      revocationPolicy: this.revocationPolicy,
      logger,
      metrics,
      onAcceptError: (err) => this.fdWatch.acceptFailed('tls', err),
      decorator: this.authorizer,
      onRequest: createRequestHandler({
        authorizer: this.authorizer,
        lifecycle: this.lifecycle,
        upstreams: this.upstreams,
        limits: this.limits,
        headerOptions: upstreamHeaderOptionsOf(config),
        metrics,
        logger,
      }),
    });
    listener.server.on('clientError', clientErrorResponder({ logger, metrics }));
    this.listener = listener;
    await this.lifecycle.serve(listener, config.listen.host, config.listen.port);
  }

  /** SIGHUP: reload every trust source and the GATEWAY_CONFIG policy now. */
  reloadTrust(): Promise<void> {
    this.authorizer.reload();
    return this.trust.refresh();
  }

  /** SIGTERM: see Lifecycle.drain (true: every request finished in time). */
  drain(): Promise<boolean> {
    return this.lifecycle.drain();
  }

  /** Immediate stop (tests): no drain wait. */
  stop(): Promise<void> {
    return this.lifecycle.stop();
  }
}
