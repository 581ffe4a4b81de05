/**
 * The composition root: builds every part from Config, wires them, and owns start, reload and
 * drain. Data flows one way: TrustStore → TlsListener (gate) → request handler → Upstream.
 */
import type { AddressInfo } from 'node:net';
import { createSecureContext } from 'node:tls';
import { ExpiryRadar } from './admin/expiry-radar.js';
import { AdminServer } from './admin/index.js';
import type { Config } from './config/config.js';
import { descriptorsNeeded, FdWatch, openFilesLimit } from './observability/fd-watch.js';
import { createLogger, createMetrics, type Logger, type Metrics } from './observability/index.js';
import { RequestAuthorizer } from './policy/request-authorizer.js';
import { clientErrorResponder } from './proxy/client-errors.js';
import { InFlightRequests } from './proxy/in-flight.js';
import { createRequestHandler } from './proxy/request-handler.js';
import { type RequestLimits, requestLimitsOf } from './proxy/request-limits.js';
import { Upstreams } from './proxy/upstreams.js';
import type { RevocationPolicy } from './tls/connection-gate.js';
import { InFlightRejudge } from './tls/in-flight-rejudge.js';
import { TlsListener } from './tls/listener.js';
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
  private listener: TlsListener | undefined;
  private readonly admin: AdminServer;
  /** The revocation rules of the configuration, applied by the gate and on every request. */
  private readonly policy: RevocationPolicy;
  /** One undici Pool per distinct upstream origin, created when a policy first names it. */
  private readonly upstreams: Upstreams;
  private readonly limits: RequestLimits;
  /** Per request: the connection's verdict, then route and authorization under the policy in force. */
  private readonly authorizer: RequestAuthorizer;
  readonly radar: ExpiryRadar;
  private policyTimer: NodeJS.Timeout | undefined;
  private readonly fdWatch: FdWatch;
  private draining = false;
  private readonly inFlight = new InFlightRequests();
  /** Strict mode: cuts in-flight responses of connections a trust change refuses. */
  private readonly rejudge: InFlightRejudge;
  private tlsAddressValue: AddressInfo | undefined;
  private readonly tlsListening: Promise<AddressInfo>;
  private resolveListening!: (a: AddressInfo) => void;
  adminAddress: AddressInfo | undefined;

  private constructor(
    readonly config: Config,
    private readonly deps: GatewayDeps,
  ) {
    this.logger =
      deps.logger ?? createLogger(config.logLevel, undefined, { maxBufferBytes: config.logBufferBytes });
    this.metrics = deps.metrics ?? createMetrics();
    this.limits = requestLimitsOf(config);
    const trust = trustSettingsOf(config);
    this.policy = trust.revocationPolicy;
    this.trust = new TrustStore({
      ...trust,
      logger: this.logger,
      metrics: this.metrics,
      maxRefusedPercent: deps.decidedByPrimary ? 100 : config.rotationMaxRefusedPercent,
      ...(deps.decidedByPrimary ? { label: null } : {}),
      // A trial context from the listener's own option builder: OpenSSL must accept it before swap.
      checkSnapshot: (s) => createSecureContext(secureContextOptions(s.caBundle, s.server)),
      ...(deps.fetchSource ? { fetch: deps.fetchSource } : {}),
    });
    this.upstreams = new Upstreams(config.upstream, {
      connectSeconds: config.upstreamConnectTimeoutSeconds,
      responseSeconds: config.upstreamTimeoutSeconds,
    });
    this.radar = new ExpiryRadar({ logger: this.logger, metrics: this.metrics });
    this.authorizer = new RequestAuthorizer({
      config,
      limits: this.limits,
      revocationPolicy: this.policy,
      trust: this.trust,
      radar: this.radar,
      reportClient:
        deps.decidedByPrimary?.reportClient ?? ((client) => this.trust.recordVerifiedClient(client)),
      logger: this.logger,
      metrics: this.metrics,
    });
    this.upstreams.sync(this.authorizer.upstreamOrigins());
    this.fdWatch = new FdWatch(this.logger, this.metrics);
    this.admin = new AdminServer({
      registry: this.metrics.registry,
      notReadyReason: () => this.notReadyReason(),
      trustStatus: () => this.trust.status(),
      expiringClientCerts: () => this.radar.report(),
    });
    this.tlsListening = new Promise((resolve) => {
      this.resolveListening = resolve;
    });
    // In both modes: explain answers refused requests, but a response already streaming to a
    // client whose trust was withdrawn is cut all the same.
    this.rejudge = new InFlightRejudge({
      connections: () => this.inFlight.connections(),
      current: () => this.trust.current,
      policy: this.policy,
      logger: this.logger,
      metrics: this.metrics,
    });
  }

  static async start(config: Config, deps: GatewayDeps = {}): Promise<Gateway> {
    const gw = new Gateway(config, deps);
    gw.checkDescriptorBudget();
    gw.fdWatch.start();
    await gw.trust.start();
    // Registered after the first load: that snapshot is installed below, later ones by swap.
    gw.trust.on('update', (snapshot: TrustSnapshot) => gw.onTrustUpdate(snapshot));
    // The policy file is re-read with the trust refresh (a no-op when unchanged); the radar sweeps then too.
    gw.policyTimer = setInterval(() => {
      gw.reloadPolicy();
      gw.radar.sweep();
    }, config.trustRefreshSeconds * 1000);
    gw.policyTimer.unref();
    if (deps.admin !== false) {
      gw.adminAddress = await gw.admin.listen(config.adminListen.host, config.adminListen.port);
      gw.admin.server.on('error', (err: NodeJS.ErrnoException) => gw.fdWatch.acceptFailed('admin', err));
      gw.logger.info({ event: 'lifecycle', msg: 'admin listening', address: gw.adminAddress });
    }
    const snapshot = gw.trust.current;
    if (snapshot) await gw.startListener(snapshot);
    gw.rejudge?.schedule(snapshot);
    return gw;
  }

  /**
   * GATEWAY_MAX_CONNECTIONS against RLIMIT_NOFILE (HAProxy checks maxconn the same way): a limit
   * the process cannot reach in descriptors means connections are dropped silently before it.
   */
  private checkDescriptorBudget(): void {
    const limit = openFilesLimit();
    if (!limit || !Number.isFinite(limit.soft)) return;
    const needed = descriptorsNeeded(this.config.limits.maxConnections, this.upstreams.maxSockets);
    if (needed <= limit.soft) return;
    this.logger.warn({
      event: 'lifecycle',
      msg: 'GATEWAY_MAX_CONNECTIONS exceeds what the file descriptor limit (ulimit -n) allows',
      max_connections: this.config.limits.maxConnections,
      fds_needed: needed,
      nofile_soft: limit.soft,
      nofile_hard: Number.isFinite(limit.hard) ? limit.hard : 'unlimited',
      fix: `raise the task's nofile ulimit to at least ${needed}, or lower GATEWAY_MAX_CONNECTIONS`,
    });
  }

  /** The TLS listener's address, once trust material has loaded and it listens. */
  get tlsAddress(): AddressInfo | undefined {
    return this.tlsAddressValue;
  }

  whenListening(): Promise<AddressInfo> {
    return this.tlsListening;
  }

  notReadyReason(): string | undefined {
    if (this.draining) return 'draining';
    if (!this.trust.current) return this.trust.notReadyReason ?? 'trust material not loaded';
    if (!this.tlsAddressValue) return 'TLS listener not started';
    return undefined;
  }

  private onTrustUpdate(snapshot: TrustSnapshot): void {
    if (this.listener) {
      this.listener.swap(snapshot);
      this.rejudge?.onTrustChange(snapshot);
    } else if (!this.draining) {
      this.startListener(snapshot).catch((err: Error) => {
        this.logger.fatal({ event: 'lifecycle', msg: 'TLS listener failed', error: err.message });
        process.exitCode = 1;
      });
    }
  }

  private async startListener(snapshot: TrustSnapshot): Promise<void> {
    const listener = new TlsListener(snapshot, {
      verifyMode: this.config.verifyMode,
      proxyProtocol: this.config.proxyProtocol,
      ...(this.deps.ticketKeys ? { ticketKeys: this.deps.ticketKeys } : {}),
      revocationPolicy: this.policy,
      handshakeTimeoutSeconds: this.config.handshakeTimeoutSeconds,
      limits: this.config.limits,
      requestLimits: this.limits,
      logger: this.logger,
      metrics: this.metrics,
      onAcceptError: (err) => this.fdWatch.acceptFailed('tls', err),
      decorator: this.authorizer,
      onRequest: this.trackInFlight(
        createRequestHandler({
          authorizer: this.authorizer,
          upstreams: this.upstreams,
          limits: this.limits,
          headerOptions: {
            underscores: this.config.underscoreHeaders,
            forwarded: this.config.identityHeaders.includes('forwarded'),
          },
          isDraining: () => this.draining,
          metrics: this.metrics,
          logger: this.logger,
        }),
      ),
    });
    listener.server.on('clientError', clientErrorResponder({ logger: this.logger, metrics: this.metrics }));
    this.listener = listener;
    this.tlsAddressValue = await listener.listen(this.config.listen.host, this.config.listen.port);
    this.logger.info({ event: 'lifecycle', msg: 'TLS listening', address: this.tlsAddressValue });
    this.resolveListening(this.tlsAddressValue);
  }

  /**
   * Re-reads GATEWAY_CONFIG (SIGHUP and every trust refresh): the authorizer swaps the policy
   * when the file changed and validates, and the upstream registry follows the origins it names.
   */
  reloadPolicy(): 'unchanged' | 'success' | 'failure' {
    const result = this.authorizer.reload();
    if (result === 'success') this.upstreams.sync(this.authorizer.upstreamOrigins());
    return result;
  }

  private trackInFlight(
    handler: (req: import('node:http').IncomingMessage, res: import('node:http').ServerResponse) => void,
  ): (req: import('node:http').IncomingMessage, res: import('node:http').ServerResponse) => void {
    return (req, res) => {
      this.inFlight.track(req, res);
      handler(req, res);
    };
  }

  /** SIGHUP: reload every trust source and the GATEWAY_CONFIG policy now. */
  reloadTrust(): Promise<void> {
    this.reloadPolicy();
    return this.trust.refresh();
  }

  /**
   * SIGTERM: readiness turns 503 at once, the listener stops accepting, idle keep-alive connections
   * close, in-flight requests get `Connection: close` and up to drainSeconds to finish.
   * Resolves true when every request finished in time; the requests cut at the deadline are
   * logged (`cut_requests`), and the exit status follows (0 clean, 1 cut).
   */
  async drain(): Promise<boolean> {
    this.draining = true;
    this.fdWatch.stop();
    this.logger.info({ event: 'lifecycle', msg: 'draining', in_flight: this.inFlight.size });
    this.trust.stop();
    this.listener?.stopAccepting();
    const server = this.listener?.server;
    server?.close();
    server?.closeIdleConnections();
    await this.inFlight.whenIdle(this.config.drainSeconds * 1000);
    const cut = this.inFlight.size;
    const clean = cut === 0;
    if (cut > 0) {
      this.logger.warn({
        event: 'lifecycle',
        msg: 'drain deadline reached: cutting the requests still in flight',
        cut_requests: cut,
        drain_seconds: this.config.drainSeconds,
      });
    }
    server?.closeAllConnections();
    clearInterval(this.policyTimer);
    this.rejudge?.stop();
    await this.upstreams.close();
    await this.admin.close();
    this.logger.info({ event: 'lifecycle', msg: 'stopped', clean, cut_requests: cut });
    return clean;
  }

  /** Immediate stop (tests): no drain wait. */
  async stop(): Promise<void> {
    this.draining = true;
    this.fdWatch.stop();
    this.trust.stop();
    this.listener?.stopAccepting();
    const server = this.listener?.server;
    server?.close();
    server?.closeAllConnections();
    clearInterval(this.policyTimer);
    this.rejudge?.stop();
    await this.upstreams.destroy();
    await this.admin.close();
  }
}
