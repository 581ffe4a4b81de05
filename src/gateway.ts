/**
 * The composition root: builds every part from Config, wires them, and owns start, reload and
 * drain. Data flows one way: TrustStore → TlsListener (gate) → request handler → Upstream.
 */
import type { AddressInfo } from 'node:net';
import { AdminServer } from './admin/index.js';
import type { Config } from './config/config.js';
import { defaultPartnerId, identityHeaders } from './identity/index.js';
import { createLogger, createMetrics, type Logger, type Metrics } from './observability/index.js';
import { Upstream } from './proxy/forward.js';
import { type ConnectionDecision, createRequestHandler } from './proxy/request-handler.js';
import type { RevocationPolicy } from './tls/connection-gate.js';
import { stateOf } from './tls/connection-state.js';
import { TlsListener } from './tls/listener.js';
import { REFUSAL_MESSAGES, refusalStatus } from './tls/refusal.js';
import type { TrustSnapshot } from './trust/snapshot.js';
import { TrustStore } from './trust/trust-store.js';

export interface GatewayDeps {
  readonly logger?: Logger;
  readonly metrics?: Metrics;
}

export class Gateway {
  readonly logger: Logger;
  readonly metrics: Metrics;
  readonly trust: TrustStore;
  private listener: TlsListener | undefined;
  private readonly admin: AdminServer;
  private readonly upstream: Upstream;
  private draining = false;
  private inFlight = 0;
  private readonly idleWaiters: (() => void)[] = [];
  private tlsAddressValue: AddressInfo | undefined;
  private readonly tlsListening: Promise<AddressInfo>;
  private resolveListening!: (a: AddressInfo) => void;
  adminAddress: AddressInfo | undefined;

  private constructor(
    readonly config: Config,
    deps: GatewayDeps,
  ) {
    this.logger = deps.logger ?? createLogger(config.logLevel);
    this.metrics = deps.metrics ?? createMetrics();
    this.trust = new TrustStore({
      caBundle: config.caBundle,
      serverCert: config.serverCert,
      serverKey: config.serverKey,
      crls: config.crls,
      refreshSeconds: config.trustRefreshSeconds,
      production: config.production,
      logger: this.logger,
      metrics: this.metrics,
    });
    this.upstream = new Upstream(config.upstream, {
      connectSeconds: config.upstreamConnectTimeoutSeconds,
      responseSeconds: config.upstreamTimeoutSeconds,
    });
    this.admin = new AdminServer({
      registry: this.metrics.registry,
      notReadyReason: () => this.notReadyReason(),
      trustStatus: () => this.trust.status(),
    });
    this.tlsListening = new Promise((resolve) => {
      this.resolveListening = resolve;
    });
  }

  static async start(config: Config, deps: GatewayDeps = {}): Promise<Gateway> {
    const gw = new Gateway(config, deps);
    await gw.trust.start();
    // Registered after the first load: that snapshot is installed below, later ones by swap.
    gw.trust.on('update', (snapshot: TrustSnapshot) => gw.onTrustUpdate(snapshot));
    gw.adminAddress = await gw.admin.listen(config.adminListen.host, config.adminListen.port);
    gw.logger.info({ event: 'lifecycle', msg: 'admin listening', address: gw.adminAddress });
    const snapshot = gw.trust.current;
    if (snapshot) await gw.startListener(snapshot);
    return gw;
  }

  private get policy(): RevocationPolicy {
    return { graceSeconds: this.config.crlGraceSeconds, crlRequired: this.config.crlRequired };
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
    } else if (!this.draining) {
      this.startListener(snapshot).catch((err: Error) => {
        this.logger.fatal({ event: 'lifecycle', msg: 'TLS listener failed', error: err.message });
        process.exitCode = 1;
      });
    }
  }

  private async startListener(snapshot: TrustSnapshot): Promise<void> {
    const formats = this.config.identityHeaders;
    const listener = new TlsListener(snapshot, {
      verifyMode: this.config.verifyMode,
      proxyProtocol: this.config.proxyProtocol,
      revocationPolicy: this.policy,
      handshakeTimeoutSeconds: this.config.handshakeTimeoutSeconds,
      maxHeaderBytes: this.config.maxHeaderBytes,
      maxHeaders: this.config.maxHeaders,
      logger: this.logger,
      metrics: this.metrics,
      decorate: (verdict) => {
        const partnerId = defaultPartnerId(verdict.identity);
        return { partnerId, headers: identityHeaders(verdict.identity, partnerId, formats) };
      },
      onRequest: this.trackInFlight(
        createRequestHandler({
          decide: (req) => this.decide(req.socket),
          upstream: this.upstream,
          maxHeaders: this.config.maxHeaders,
          isDraining: () => this.draining,
          metrics: this.metrics,
          logger: this.logger,
        }),
      ),
    });
    listener.server.on('clientError', (err: NodeJS.ErrnoException, socket: import('node:net').Socket) => {
      // Malformed HTTP (smuggling attempts, oversized headers) never reaches the handler.
      const tooLarge = err.code === 'HPE_HEADER_OVERFLOW';
      const status = tooLarge ? 431 : 400;
      this.metrics.requests.inc({ route: 'default', code: String(status) });
      this.logger.warn({
        event: 'request',
        status,
        reason: err.code ?? 'bad_request',
        client: socket.remoteAddress,
      });
      if (socket.writable && !(err.code === 'ECONNRESET')) {
        const body = JSON.stringify({
          error: tooLarge ? 'headers_too_large' : 'bad_request',
          message: tooLarge
            ? 'The request header section is too large.'
            : 'The request is malformed and was not forwarded.',
          request_id: 'none',
        });
        socket.end(
          `HTTP/1.1 ${status} ${tooLarge ? 'Request Header Fields Too Large' : 'Bad Request'}\r\n` +
            `content-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
        );
      } else {
        socket.destroy();
      }
    });
    this.listener = listener;
    this.tlsAddressValue = await listener.listen(this.config.listen.host, this.config.listen.port);
    this.logger.info({ event: 'lifecycle', msg: 'TLS listening', address: this.tlsAddressValue });
    this.resolveListening(this.tlsAddressValue);
  }

  private decide(socket: import('node:net').Socket): ConnectionDecision {
    const state = stateOf(socket);
    if (!state) {
      return {
        ok: false,
        close: true,
        status: 403,
        error: 'other',
        message: REFUSAL_MESSAGES.other,
        details: {},
      };
    }
    const verdict = state.current(this.trust.current, this.policy);
    if (verdict.ok) {
      return {
        ok: true,
        identityHeaders: state.identityHeaders,
        partnerId: state.partnerId ?? '',
        clientAddress: state.remoteAddress,
      };
    }
    const details: Record<string, string> = {};
    for (const [k, v] of Object.entries(verdict.presented)) if (v !== undefined) details[k] = v;
    return {
      ok: false,
      close: this.config.verifyMode === 'strict',
      status: refusalStatus(verdict.reason),
      error: verdict.reason,
      message: REFUSAL_MESSAGES[verdict.reason],
      details,
      ...(state.partnerId === undefined ? {} : { partnerId: state.partnerId }),
    };
  }

  private trackInFlight(
    handler: (req: import('node:http').IncomingMessage, res: import('node:http').ServerResponse) => void,
  ): (req: import('node:http').IncomingMessage, res: import('node:http').ServerResponse) => void {
    return (req, res) => {
      this.inFlight++;
      res.once('close', () => {
        this.inFlight--;
        if (this.inFlight === 0) for (const wake of this.idleWaiters.splice(0)) wake();
      });
      handler(req, res);
    };
  }

  /** SIGHUP: reload every trust source now. */
  reloadTrust(): Promise<void> {
    return this.trust.refresh();
  }

  /**
   * SIGTERM: readiness turns 503 at once, the listener stops accepting, idle keep-alive connections
   * close, in-flight requests get `Connection: close` and up to drainSeconds to finish.
   * Resolves true when every request finished in time.
   */
  async drain(): Promise<boolean> {
    this.draining = true;
    this.logger.info({ event: 'lifecycle', msg: 'draining', in_flight: this.inFlight });
    this.trust.stop();
    this.listener?.stopAccepting();
    const server = this.listener?.server;
    server?.close();
    server?.closeIdleConnections();
    let clean = true;
    if (this.inFlight > 0) {
      clean = await new Promise<boolean>((resolve) => {
        const timer = setTimeout(() => resolve(false), this.config.drainSeconds * 1000);
        this.idleWaiters.push(() => {
          clearTimeout(timer);
          resolve(true);
        });
      });
    }
    const cut = this.inFlight;
    server?.closeAllConnections();
    await this.upstream.close().catch(() => undefined);
    await this.admin.close();
    this.logger.info({ event: 'lifecycle', msg: 'stopped', clean, cut_requests: cut });
    return clean;
  }

  /** Immediate stop (tests): no drain wait. */
  async stop(): Promise<void> {
    this.draining = true;
    this.trust.stop();
    this.listener?.stopAccepting();
    const server = this.listener?.server;
    server?.close();
    server?.closeAllConnections();
    await this.upstream.destroy().catch(() => undefined);
    await this.admin.close();
  }
}
