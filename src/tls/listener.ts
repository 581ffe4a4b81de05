/**
 * The client-facing TLS listener. Every connection goes through `verifyNewConnection` before the
 * HTTP layer sees it; a refusal is logged (`event: "handshake"`) and counted, then the connection is
 * closed (strict) or kept only to explain the refusal (explain). Trust changes swap the whole secure
 * context at once and re-key session tickets, so no resumed session outlives a trust change
 * unchecked; open connections keep their existing context and are re-checked per request.
 */
import { randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer, type Server } from 'node:https';
import {
  type AddressInfo,
  createServer as createNetServer,
  type Server as NetServer,
  type Socket,
} from 'node:net';
import type { TLSSocket } from 'node:tls';
import type { Logger, Metrics } from '../observability/index.js';
import type { TrustSnapshot } from '../trust/snapshot.js';
import { type RevocationPolicy, type Verdict, verifyNewConnection } from './connection-gate.js';
import { attachState, ConnectionState } from './connection-state.js';
import { mayStartWithProxyHeader, parseProxyHeader } from './proxy-protocol.js';
import { classifyHandshakeError, type RefusalReason } from './refusal.js';
import { secureContextOptions } from './secure-context.js';

export interface ListenerOptions {
  readonly verifyMode: 'strict' | 'explain';
  /** `v2`: every connection must start with a PROXY header (v2, or v1); `off`: one that does is refused. */
  readonly proxyProtocol: 'off' | 'v2';
  readonly revocationPolicy: RevocationPolicy;
  readonly handshakeTimeoutSeconds: number;
  readonly limits: ConnectionLimits;
  /** Session-ticket keys for a snapshot; default: fresh random keys on every swap. */
  readonly ticketKeys?: (snapshot: TrustSnapshot) => Buffer;
  readonly maxHeaderBytes: number;
  readonly maxHeaders: number;
  readonly logger: Logger;
  readonly metrics: Metrics;
  /** The partner id for a verified connection (its identity headers are prepared here too, once). */
  readonly decorate: (verdict: Verdict & { ok: true }) => {
    partnerId: string;
  };
  readonly onRequest: (req: IncomingMessage, res: ServerResponse) => void;
}

type WithParent = TLSSocket & { _parent?: Socket };

/** Where in the per-connection path a bug threw (the `where` label of internal_errors_total). */
export type InternalErrorWhere = 'verify' | 'decorate' | 'attach' | 'handshake_error';

/** The connection-level limits the listener enforces (request-level ones are the handler's). */
export interface ConnectionLimits {
  readonly requestTimeoutSeconds: number;
  readonly keepAliveTimeoutSeconds: number;
  readonly maxConnections: number;
  readonly maxConnectionsPerClient: number;
  readonly maxRequestsPerConnection: number;
}

/** What we learned about a TCP connection before TLS started. */
interface Accepted {
  readonly at: bigint;
  /** The client's address from the PROXY header (the socket's peer is then the load balancer). */
  readonly clientAddress?: string;
  readonly clientPort?: number;
  readonly awsVpceId?: string;
}

export class TlsListener {
  readonly server: Server;
  private snapshot: TrustSnapshot;
  private readonly accepted = new WeakMap<Socket, Accepted>();
  private front: NetServer | undefined;

  constructor(
    initial: TrustSnapshot,
    private readonly opts: ListenerOptions,
  ) {
    this.snapshot = initial;
    this.server = createServer(
      {
        ...secureContextOptions(initial.caBundle, initial.server),
        requestCert: true,
        rejectUnauthorized: false,
        handshakeTimeout: opts.handshakeTimeoutSeconds * 1000,
        maxHeaderSize: opts.maxHeaderBytes,
        // The request handler refuses a missing or repeated Host with our JSON 400 and closes; Node's
        // own check answers a bare 400 and then still emits the requests pipelined behind it.
        requireHostHeader: false,
        // Idle keep-alive below the NLB's 350 s idle timeout, so we close first and cleanly.
        keepAliveTimeout: opts.limits.keepAliveTimeoutSeconds * 1000,
        headersTimeout: Math.min(20, opts.limits.requestTimeoutSeconds) * 1000,
        requestTimeout: opts.limits.requestTimeoutSeconds * 1000,
        // How often Node looks for requests past their timeout (its default is 30 s).
        connectionsCheckingInterval: Math.min(5_000, opts.limits.requestTimeoutSeconds * 500),
        noDelay: true,
      },
      opts.onRequest,
    );
    // Node drops headers beyond maxHeadersCount silently; allow one more so we can see and refuse.
    this.server.maxHeadersCount = opts.maxHeaders + 1;
    // Node answers the request after the last allowed one with 503 and closes; the last allowed
    // one already carries Connection: close.
    this.server.maxRequestsPerSocket = opts.limits.maxRequestsPerConnection;
    if (opts.limits.maxRequestsPerConnection > 0) {
      // Node only marks that last answer Connection: close; we also close after it is sent.
      const served = new WeakMap<Socket, number>();
      this.server.on('request', (req: IncomingMessage, res: ServerResponse) => {
        const n = (served.get(req.socket) ?? 0) + 1;
        served.set(req.socket, n);
        if (n >= opts.limits.maxRequestsPerConnection) res.once('finish', () => req.socket.end());
      });
    }
    this.server.setTicketKeys(opts.ticketKeys?.(initial) ?? randomBytes(48));
    this.server.on('connection', (raw: Socket) => {
      opts.metrics.activeConnections.inc();
      raw.once('close', () => opts.metrics.activeConnections.dec());
    });
    // Runs before the HTTP layer's own secureConnection listener: nothing reads a byte of HTTP
    // from a connection this gate has not decided.
    // Both are guarded: no client input may end the process or a worker (see lastResort).
    this.server.prependListener('secureConnection', (socket: TLSSocket) => {
      const stage: { where: InternalErrorWhere } = { where: 'verify' };
      this.lastResort(socket, stage, () => this.gate(socket, stage));
    });
    this.server.on('tlsClientError', (err: Error, socket: TLSSocket) =>
      this.lastResort(socket, { where: 'handshake_error' }, () => this.handshakeFailed(err, socket)),
    );
  }

  get current(): TrustSnapshot {
    return this.snapshot;
  }

  /** Installs a new snapshot for new connections: one whole context, fresh ticket keys. */
  swap(snapshot: TrustSnapshot): void {
    this.server.setSecureContext(secureContextOptions(snapshot.caBundle, snapshot.server));
    this.server.setTicketKeys(this.opts.ticketKeys?.(snapshot) ?? randomBytes(48));
    this.snapshot = snapshot;
  }

  /**
   * Listens through a plain TCP front that reads (or rules out) a PROXY header before any TLS
   * byte, then hands the socket to the HTTPS server with the unread bytes put back.
   */
  listen(host: string, port: number): Promise<AddressInfo> {
    const front = createNetServer({ pauseOnConnect: true, noDelay: true }, (raw) => this.accept(raw));
    this.front = front;
    return new Promise((resolve, reject) => {
      front.once('error', reject);
      front.listen({ host, port }, () => {
        front.off('error', reject);
        // The HTTPS server never listens itself; this starts its connection tracking
        // (header/request timeouts, closeIdleConnections) as a real listen would.
        this.server.emit('listening');
        resolve(front.address() as AddressInfo);
      });
    });
  }

  /** Stops accepting new connections (open ones are the HTTPS server's to close). */
  stopAccepting(): void {
    this.front?.close();
  }

  private accept(raw: Socket): void {
    const at = process.hrtime.bigint();
    const mode = this.opts.proxyProtocol;
    let buffered: Buffer = Buffer.alloc(0);
    const cleanup = (): void => {
      clearTimeout(timer);
      raw.off('data', onData);
      raw.off('error', onError);
    };
    const refuse = (reason: RefusalReason, detail: string): void => {
      cleanup();
      this.refusedBeforeTls(raw, reason, detail, at);
      raw.destroy();
    };
    const handOver = (consumed: number, info: Omit<Accepted, 'at'>): void => {
      cleanup();
      const client = info.clientAddress ?? raw.remoteAddress ?? '';
      const over = this.overLimit(client);
      if (over) {
        this.opts.metrics.connectionsRefused.inc({ reason: over });
        this.opts.logger.warn({ event: 'connection', client, result: 'refused', reason: over });
        raw.destroy();
        return;
      }
      this.countOpen(raw, client);
      raw.pause();
      const rest = buffered.subarray(consumed);
      if (rest.length > 0) raw.unshift(rest);
      this.accepted.set(raw, { at, ...info });
      this.server.emit('connection', raw);
    };
    const onData = (chunk: Buffer): void => {
      buffered = buffered.length === 0 ? chunk : Buffer.concat([buffered, chunk]);
      if (mode === 'v2') {
        const r = parseProxyHeader(buffered);
        if (r.kind === 'invalid') refuse('protocol', `PROXY protocol: ${r.reason}`);
        else if (r.kind === 'ok') {
          const h = r.header;
          handOver(r.consumed, {
            ...(h.sourceAddress === undefined ? {} : { clientAddress: h.sourceAddress }),
            ...(h.sourcePort === undefined ? {} : { clientPort: h.sourcePort }),
            ...(h.awsVpceId === undefined ? {} : { awsVpceId: h.awsVpceId }),
          });
        }
        return;
      }
      // Off: a PROXY header means the target group and the gateway disagree; say so loudly.
      if (!mayStartWithProxyHeader(buffered)) handOver(0, {});
      else if (buffered.length >= 12 || (buffered.length >= 6 && buffered[0] === 0x50)) {
        refuse('protocol', 'unexpected PROXY protocol header (GATEWAY_PROXY_PROTOCOL is off)');
      }
    };
    const onError = (): void => cleanup();
    const timer = setTimeout(
      () => refuse('timeout', mode === 'v2' ? 'no PROXY header in time' : 'no data in time'),
      this.opts.handshakeTimeoutSeconds * 1000,
    );
    raw.on('data', onData);
    raw.on('error', onError);
    raw.resume();
  }

  /** Open connections, in total and per client address (the PROXY header's when there is one). */
  private open = 0;
  private readonly openPerClient = new Map<string, number>();

  private overLimit(client: string): 'max_connections' | 'max_connections_per_client' | undefined {
    const { maxConnections, maxConnectionsPerClient } = this.opts.limits;
    if (this.open >= maxConnections) return 'max_connections';
    if ((this.openPerClient.get(client) ?? 0) >= maxConnectionsPerClient) return 'max_connections_per_client';
    return undefined;
  }

  private countOpen(raw: Socket, client: string): void {
    this.open++;
    this.openPerClient.set(client, (this.openPerClient.get(client) ?? 0) + 1);
    raw.once('close', () => {
      this.open--;
      const n = (this.openPerClient.get(client) ?? 1) - 1;
      if (n === 0) this.openPerClient.delete(client);
      else this.openPerClient.set(client, n);
    });
  }

  private refusedBeforeTls(raw: Socket, reason: RefusalReason, detail: string, at: bigint): void {
    const duration = Number(process.hrtime.bigint() - at) / 1e9;
    this.opts.metrics.handshakes.inc({ result: 'failure', reason });
    this.opts.metrics.handshakeDuration.observe({ result: 'failure' }, duration);
    this.opts.logger.warn({
      event: 'handshake',
      client: raw.remoteAddress,
      client_port: raw.remotePort,
      result: 'failure',
      reason,
      detail,
      duration_ms: Math.round(duration * 1e6) / 1e3,
    });
  }

  private acceptedOf(socket: TLSSocket): Accepted | undefined {
    const raw = (socket as WithParent)._parent;
    return raw ? this.accepted.get(raw) : undefined;
  }

  private elapsedSeconds(socket: TLSSocket): number {
    const start = this.acceptedOf(socket)?.at;
    return start === undefined ? 0 : Number(process.hrtime.bigint() - start) / 1e9;
  }

  /** The client's address and port: from the PROXY header when there was one. */
  private clientOf(socket: TLSSocket): { client: string; client_port: number | undefined; vpce?: string } {
    const a = this.acceptedOf(socket);
    return {
      client: a?.clientAddress ?? socket.remoteAddress ?? '',
      client_port: a?.clientPort ?? socket.remotePort,
      ...(a?.awsVpceId ? { vpce: a.awsVpceId } : {}),
    };
  }

  /**
   * Runs one connection's handler; if it throws (a bug: the gate's parsers turn bad input into
   * refusals, never into exceptions), only that socket is destroyed, and the failure is logged
   * (`event: "internal_error"`, the client's address, never certificate bytes) and counted.
   */
  private lastResort(socket: TLSSocket, stage: { where: InternalErrorWhere }, run: () => void): void {
    try {
      run();
    } catch (err) {
      socket.destroy();
      this.opts.metrics.internalErrors.inc({ where: stage.where });
      const e = err instanceof Error ? err : new Error(String(err));
      this.opts.logger.error({
        event: 'internal_error',
        where: stage.where,
        client: this.acceptedOf(socket)?.clientAddress ?? socket.remoteAddress ?? '',
        error: e.name,
        detail: e.message.slice(0, 200),
      });
    }
  }

  private gate(socket: TLSSocket, stage: { where: InternalErrorWhere }): void {
    const { logger, metrics, revocationPolicy, verifyMode } = this.opts;
    // TLS 1.2 renegotiation: Node sees the new ClientHello first and reports it as a clientError
    // (gateway.ts closes the connection); the context's SSL_OP_NO_RENEGOTIATION refuses it in OpenSSL.
    socket.disableRenegotiation();
    const verdict = verifyNewConnection(socket, this.snapshot, revocationPolicy);
    const duration = this.elapsedSeconds(socket);
    const cipher = socket.getCipher();
    const peer = this.clientOf(socket);
    const base = {
      event: 'handshake',
      ...peer,
      tls_version: socket.getProtocol(),
      cipher: cipher?.standardName ?? cipher?.name,
      resumed: socket.isSessionReused(),
      duration_ms: Math.round(duration * 1e6) / 1e3,
    };
    const remote = peer.client;
    if (verdict.ok) {
      stage.where = 'decorate';
      const { partnerId } = this.opts.decorate(verdict);
      stage.where = 'attach';
      attachState(socket, new ConnectionState(verdict, this.snapshot, remote, partnerId));
      metrics.handshakes.inc({ result: 'success', reason: '' });
      metrics.handshakeDuration.observe({ result: 'success' }, duration);
      const id = verdict.identity;
      logger.info({
        ...base,
        result: 'success',
        subject: id.subject,
        serial: id.serial,
        issuer: id.issuer,
        partner_id: partnerId,
      });
      return;
    }
    metrics.handshakes.inc({ result: 'failure', reason: verdict.reason });
    metrics.handshakeDuration.observe({ result: 'failure' }, duration);
    logger.warn({
      ...base,
      result: 'failure',
      reason: verdict.reason,
      detail: verdict.detail,
      ...verdict.presented,
      ...(verdict.fingerprint256 === undefined ? {} : { fingerprint256: verdict.fingerprint256 }),
    });
    if (verifyMode === 'explain') {
      attachState(socket, new ConnectionState(verdict, this.snapshot, remote, undefined));
      return;
    }
    socket.destroy();
  }

  private handshakeFailed(err: Error, socket: TLSSocket): void {
    const reason = classifyHandshakeError(err);
    const duration = this.elapsedSeconds(socket);
    this.opts.metrics.handshakes.inc({ result: 'failure', reason });
    this.opts.metrics.handshakeDuration.observe({ result: 'failure' }, duration);
    this.opts.logger.warn({
      event: 'handshake',
      ...this.clientOf(socket),
      result: 'failure',
      reason,
      detail: (err as NodeJS.ErrnoException).code ?? err.message.split('\n')[0],
      duration_ms: Math.round(duration * 1e6) / 1e3,
    });
    socket.destroy();
  }
}
