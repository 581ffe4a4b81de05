/**
 * The composition root: builds every part from Config, wires them, and owns start, reload and
 * drain. Data flows one way: TrustStore → TlsListener (gate) → request handler → Upstream.
 */
import type { AddressInfo } from 'node:net';
import { createSecureContext } from 'node:tls';
import { ExpiryRadar } from './admin/expiry-radar.js';
import { AdminServer } from './admin/index.js';
import { formatRfc2253 } from './asn1/name.js';
import type { Config } from './config/config.js';
import { readGatewayConfigFile } from './config/gateway-config-file.js';
import { type ClientIdentity, type HeaderPair, identityHeaders } from './identity/index.js';
import { descriptorsNeeded, FdWatch, openFilesLimit } from './observability/fd-watch.js';
import { createLogger, createMetrics, type Logger, type Metrics } from './observability/index.js';
import {
  ConnectionAuthorization,
  normalizeRequestPath,
  Policy,
  WHOAMI_PATH,
  type WhoamiChainElement,
  whoamiBody,
} from './policy/index.js';
import { clientErrorResponder } from './proxy/client-errors.js';
import { InFlightRequests } from './proxy/in-flight.js';
import { type ConnectionDecision, createRequestHandler } from './proxy/request-handler.js';
import { pastMaxAge, type RequestLimits, requestLimitsOf } from './proxy/request-limits.js';
import { Upstreams } from './proxy/upstreams.js';
import type { RevocationPolicy, Verdict } from './tls/connection-gate.js';
import { stateOf } from './tls/connection-state.js';
import { InFlightRejudge } from './tls/in-flight-rejudge.js';
import { TlsListener } from './tls/listener.js';
import { refusalAnswer } from './tls/refusal.js';
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
  /** The authorization policy in force (GATEWAY_CONFIG, or the one default route), swapped whole. */
  private accessPolicy: Policy;
  private accessPolicyText: string | undefined;
  /** Per connection (keyed by its frozen identity): partner, cached route decisions, headers. */
  private readonly authorizations = new WeakMap<
    ClientIdentity,
    { auth: ConnectionAuthorization; headers: readonly HeaderPair[] }
  >();
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
    this.accessPolicy = config.policyFile
      ? Policy.fromDocument(config.policyFile.document, config.upstream.origin)
      : Policy.defaultOnly(config.upstream.origin);
    this.accessPolicyText = config.policyFile?.text;
    this.ensureUpstreams();
    this.radar = new ExpiryRadar({ logger: this.logger, metrics: this.metrics });
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
      decorate: (verdict) => {
        // Partner match and identity headers, computed here once and cached for every request.
        const { auth } = this.authorizationFor(verdict.identity);
        const id = verdict.identity;
        this.radar.observe(id, auth.partner.id, auth.partnerLabel);
        const client = {
          partnerId: auth.partner.id,
          fingerprint256: id.fingerprint256,
          leafDer: id.leafDer,
          sentDer: id.chainDer,
        };
        if (this.deps.decidedByPrimary) this.deps.decidedByPrimary.reportClient(client);
        else this.trust.recordVerifiedClient(client);
        return { partnerId: auth.partner.id };
      },
      // Per-client connection limits count the identity the upstream is told: a declared partner as
      // one client, an undeclared one by issuer and X-Client-Id (`cn:…`) together, never per leaf,
      // or a trusted CA could mint a fresh leaf per connection and never be limited.
      clientKey: (verdict) => {
        const { partner } = this.authorizationFor(verdict.identity).auth;
        return partner.declared
          ? `partner:${partner.id}`
          : // The issuing CA by its certificate, not its name: a same-name twin CA is another client.
            `undeclared:${JSON.stringify([verdict.chainFingerprints[1] ?? verdict.identity.issuer, partner.id])}`;
      },
      onRequest: this.trackInFlight(
        createRequestHandler({
          decide: (req) => this.decide(req),
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

  /** Partner match and identity headers for a connection under the policy in force, computed once each. */
  private authorizationFor(identity: ClientIdentity): {
    auth: ConnectionAuthorization;
    headers: readonly HeaderPair[];
  } {
    const known = this.authorizations.get(identity);
    if (known && known.auth.policy === this.accessPolicy) return known;
    const auth = new ConnectionAuthorization(this.accessPolicy, identity);
    // After a reload the partner id (X-Client-Id) may change: then the headers are rebuilt too.
    const headers =
      known &&
      known.auth.partner.id === auth.partner.id &&
      known.auth.partner.declared === auth.partner.declared
        ? known.headers
        : identityHeaders(identity, auth.partner.id, this.config.identityHeaders, auth.partner.declared);
    const entry = { auth, headers };
    this.authorizations.set(identity, entry);
    return entry;
  }

  /** Route selection and authorization for one request on a verified connection. */
  private authorize(
    req: import('node:http').IncomingMessage,
    verdict: Verdict & { ok: true },
    clientAddress: string,
  ): ConnectionDecision {
    const { auth, headers } = this.authorizationFor(verdict.identity);
    const policy = auth.policy;
    const who = { partnerId: auth.partner.id, partnerLabel: auth.partnerLabel };
    const method = req.method ?? 'GET';
    const url = req.url ?? '';
    const refuse = (
      status: number,
      error: string,
      message: string,
      details: Record<string, string>,
      route?: string,
    ) =>
      ({
        ok: false,
        close: false,
        status,
        error,
        message,
        details,
        ...who,
        ...(route ? { route } : {}),
      }) as const;
    // Not origin-form: the request handler answers 400 before anything is forwarded.
    if (!url.startsWith('/')) return { ok: true, identityHeaders: headers, clientAddress, ...who };
    // Routed and forwarded in one normal form (README "Request paths"); `;` only matters with routes.
    const target = normalizeRequestPath(url, policy.fromFile);
    if (!target.ok) {
      return refuse(
        400,
        'bad_request',
        `The request path has ${target.problem}, which this gateway refuses.`,
        {},
      );
    }
    const path = target.path;
    const forwardTarget = `${path}${target.query}`;
    if (path === WHOAMI_PATH && (policy.whoami ?? this.config.devMode)) {
      return {
        ok: true,
        identityHeaders: [],
        clientAddress,
        route: 'whoami',
        ...who,
        local: (requestId) => whoamiBody(verdict.identity, auth, this.whoamiChain(verdict), requestId),
      };
    }
    const selected = policy.select(method, path);
    if (!selected) return refuse(403, 'not_authorized', 'No route accepts this request path.', {});
    const route = selected.route;
    if (!selected.ok) {
      return refuse(
        403,
        'not_authorized',
        `Route '${route.name}' does not accept ${method} requests (refused by ${selected.rule}).`,
        { route: route.name, rule: selected.rule },
        route.name,
      );
    }
    const decision = auth.authorize(route);
    if (!decision.allowed) {
      return refuse(
        403,
        'not_authorized',
        decision.message,
        { route: route.name, rule: decision.rule },
        route.name,
      );
    }
    return {
      ok: true,
      identityHeaders: headers,
      clientAddress,
      route: route.name,
      target: forwardTarget,
      ...who,
      upstream: route.upstream,
    };
  }

  /** The verified chain for whoami, with whether a loaded CRL of each element's issuer covers it. */
  private whoamiChain(verdict: Verdict & { ok: true }): WhoamiChainElement[] {
    const revocation = this.trust.current?.revocation;
    return verdict.chain.map((c, i) => {
      const subject = formatRfc2253(c.subjectDer);
      const issuer = formatRfc2253(c.issuerDer);
      const anchor = i > 0 && i === verdict.chain.length - 1;
      return {
        subject,
        issuer,
        serial: c.serialHex,
        fingerprint256: verdict.chainFingerprints[i] ?? '',
        notAfter: c.notAfter,
        revocation: anchor
          ? 'trust_anchor'
          : revocation?.covers(c, verdict.chain[i + 1])
            ? 'checked'
            : 'no_crl',
      };
    });
  }

  private ensureUpstreams(): void {
    this.upstreams.sync(this.accessPolicy.routes.routes.map((r) => r.upstream));
  }

  /**
   * Re-reads GATEWAY_CONFIG (SIGHUP and every trust refresh). A file that fails validation never
   * replaces the policy in force: it is logged and counted, and the old policy keeps deciding.
   */
  reloadPolicy(): 'unchanged' | 'success' | 'failure' {
    const file = this.config.configFile;
    if (!file) return 'unchanged';
    let result: 'unchanged' | 'success' | 'failure';
    try {
      const { document, text } = readGatewayConfigFile(file);
      if (text === this.accessPolicyText) {
        result = 'unchanged';
      } else {
        this.accessPolicy = Policy.fromDocument(document, this.config.upstream.origin);
        this.accessPolicyText = text;
        this.ensureUpstreams();
        result = 'success';
        this.logger.info({ event: 'policy', msg: 'GATEWAY_CONFIG reloaded', file });
      }
    } catch (err) {
      result = 'failure';
      this.logger.error({
        event: 'policy',
        msg: 'GATEWAY_CONFIG reload rejected; the policy in force is kept',
        file,
        error: (err as Error).message,
      });
    }
    this.metrics.policyReloads.inc({ result });
    return result;
  }

  private decide(req: import('node:http').IncomingMessage): ConnectionDecision {
    const socket = req.socket;
    const state = stateOf(socket);
    if (!state) return { ok: false, close: true, ...refusalAnswer({ reason: 'other', presented: {} }) };
    const verdict = state.current(this.trust.current, this.policy);
    if (verdict.ok) {
      const decision = this.authorize(req, verdict, state.remoteAddress);
      return pastMaxAge(state.establishedAt, this.limits) && decision.ok
        ? { ...decision, closeAfter: true }
        : decision;
    }
    const route = this.routeNameOf(req);
    return {
      ok: false,
      ...(route === undefined ? {} : { route }),
      // Strict: this answer is the connection's last (then it closes); explain: it stays open.
      close: this.config.verifyMode === 'strict',
      ...refusalAnswer(verdict),
      ...(state.partnerId === undefined ? {} : { partnerId: state.partnerId }),
    };
  }

  /**
   * The route a refused request's path selects, for its log line and metrics only (nothing is
   * forwarded): a refused `/receipts` is counted under `receipts`, not `default`. Undefined when
   * the path is malformed or no route takes it.
   */
  private routeNameOf(req: import('node:http').IncomingMessage): string | undefined {
    const url = req.url ?? '';
    if (!url.startsWith('/')) return undefined;
    const target = normalizeRequestPath(url, this.accessPolicy.fromFile);
    if (!target.ok) return undefined;
    return this.accessPolicy.select(req.method ?? 'GET', target.path)?.route.name;
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
