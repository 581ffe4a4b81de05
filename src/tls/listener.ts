/**
 * The client-facing TLS listener. Every connection goes through `verifyNewConnection` before the
 * HTTP layer sees it; a refusal is logged (`event: "handshake"`) and counted, then the connection is
 * kept only to explain the refusal: for one request within REFUSED_CONNECTION_SECONDS (strict, as
 * nginx answers its 400), or for every request (explain). Nothing on it is ever forwarded. Trust
 * changes swap the whole secure context at once and re-key session tickets, so no resumed session
 * outlives a trust change unchecked; open connections keep their existing context and are
 * re-checked per request.
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
import type { Config } from '../config/config.js';
import type { Logger, Metrics } from '../observability/index.js';
import {
  applyServerLimits,
  type RequestLimits,
  requestLimitsOf,
  serverLimitOptions,
} from '../proxy/request-limits.js';
import type { TrustSnapshot } from '../trust/snapshot.js';
import {
  type RevocationPolicy,
  recheckConnection,
  type Verdict,
  verifyNewConnection,
} from './connection-gate.js';
import { attachState, ConnectionState, stateOf } from './connection-state.js';
import { mayStartWithProxyHeader, parseProxyHeader } from './proxy-protocol.js';
import { classifyHandshakeError, type RefusalReason } from './refusal.js';
import { secureContextOptions } from './secure-context.js';

/** The listener's settings from the configuration (the rest of ListenerOptions is wiring). */
export function listenerSettingsOf(
  config: Pick<Config, 'verifyMode' | 'proxyProtocol' | 'handshakeTimeoutSeconds' | 'limits'> &
    Parameters<typeof requestLimitsOf>[0],
): Pick<
  ListenerOptions,
  'verifyMode' | 'proxyProtocol' | 'handshakeTimeoutSeconds' | 'limits' | 'requestLimits'
> {
  return {
    verifyMode: config.verifyMode,
    proxyProtocol: config.proxyProtocol,
    handshakeTimeoutSeconds: config.handshakeTimeoutSeconds,
    limits: config.limits,
    requestLimits: requestLimitsOf(config),
  };
}

export interface ListenerOptions {
  readonly verifyMode: 'strict' | 'explain';
  /** `v2`: every connection must start with a PROXY header (v2, or v1); `off`: one that does is refused. */
  readonly proxyProtocol: 'off' | 'v2';
  readonly revocationPolicy: RevocationPolicy;
  readonly handshakeTimeoutSeconds: number;
  readonly limits: ConnectionLimits;
  /** Session-ticket keys for a snapshot; default: fresh random keys on every swap. */
  readonly ticketKeys?: (snapshot: TrustSnapshot) => Buffer;
  /** The request limits Node's HTTP server enforces (header section, timeouts, requests per connection). */
  readonly requestLimits: RequestLimits;
  readonly logger: Logger;
  readonly metrics: Metrics;
  /** Asked once about every verified connection, right after the gate. */
  readonly decorator: ConnectionDecorator;
  readonly onRequest: (req: IncomingMessage, res: ServerResponse) => void;
  /** An accept that failed once listening (EMFILE, …): reported, never fatal. */
  readonly onAcceptError?: (err: NodeJS.ErrnoException) => void;
}

/** What the listener learns about a verified connection, once, before any request on it. */
export interface ConnectionDecorator {
  /** The partner id for a verified connection (its identity headers are prepared here too, once). */
  decorate(verdict: Verdict & { ok: true }): { partnerId: string };
  /**
   * Whom a verified connection counts against for maxConnectionsPerClient (e.g. the declared
   * partner, else the certificate); default: the leaf's fingerprint. Never the source address:
   * behind an NLB without PROXY protocol every partner shares a few node addresses.
   */
  clientKey?(verdict: Verdict & { ok: true }): string;
}

type WithParent = TLSSocket & { _parent?: Socket };

/**
 * Strict mode: how long a refused connection is kept for its one readable answer (then destroyed,
 * answered or not); never longer than the handshake timeout. Refused sockets hold a slot of
 * maxHandshakingConnections meanwhile (the first to be evicted when it is full), never one of a
 * verified client's maxConnectionsPerClient.
 */
export const REFUSED_CONNECTION_SECONDS = 5;

/** Where in the per-connection path a bug threw (the `where` label of internal_errors_total). */
export type InternalErrorWhere = 'verify' | 'decorate' | 'attach' | 'handshake_error';

/** The connection-level limits the listener enforces (request-level ones: proxy/request-limits.ts). */
export interface ConnectionLimits {
  readonly maxConnections: number;
  /** Accepted, not yet verified connections (PROXY header or TLS handshake pending); more are closed at accept. */
  readonly maxHandshakingConnections: number;
  /** Verified connections per client identity (clientKey); more are closed after the handshake. */
  readonly maxConnectionsPerClient: number;
}

/** What we learned about a TCP connection before TLS started. */
interface Accepted {
  readonly at: bigint;
  /** The client's address from the PROXY header (the socket's peer is then the load balancer). */
  readonly clientAddress?: string;
  readonly clientPort?: number;
  readonly awsVpceId?: string;
  /** The snapshot whose secure context the TLS socket was created with (it verifies the handshake). */
  readonly verifiedBy?: TrustSnapshot;
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
        // The request handler refuses a missing or repeated Host with our JSON 400 and closes; Node's
        // own check answers a bare 400 and then still emits the requests pipelined behind it.
        requireHostHeader: false,
        ...serverLimitOptions(opts.requestLimits),
        noDelay: true,
      },
      opts.onRequest,
    );
    // `Expect: 100-continue` reaches the handler without Node's automatic 100: the handler sends it
    // only when it is about to forward, so a refused or unauthorized client is never invited to
    // send its body (RFC 9110 §10.1.1 lets a server answer with the final status instead).
    this.server.on('checkContinue', opts.onRequest);
    applyServerLimits(this.server, opts.requestLimits);
    this.server.setTicketKeys(opts.ticketKeys?.(initial) ?? randomBytes(48));
    this.server.on('connection', (raw: Socket) => {
      opts.metrics.activeConnections.inc();
      raw.once('close', () => opts.metrics.activeConnections.dec());
    });
    // Prepended before the gate, so it runs right after it (and before HTTP): the handshake is over,
    // and a verified connection is counted against its client's limit.
    this.server.prependListener('secureConnection', (socket: TLSSocket) => this.afterGate(socket));
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
        front.on('error', (err: NodeJS.ErrnoException) => this.opts.onAcceptError?.(err));
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
    // Counted from the first moment, before any byte: a socket that sends nothing holds a slot too.
    const limit = this.overAcceptLimit();
    // Handshaking slots full: the oldest unauthenticated socket makes room, never the newcomer, so
    // sockets held open in silence cannot keep a partner out (each new one pushes one out instead).
    // Refused connections held for their one answer (strict) go first: they are known not to be a
    // partner, while a socket still handshaking may be one.
    const over =
      limit === 'max_handshaking_connections' &&
      (this.evictOldestRefused(raw.remoteAddress) || this.evictOldestHandshaking(raw.remoteAddress))
        ? undefined
        : limit;
    if (over) {
      this.opts.metrics.connectionsRefused.inc({ reason: over });
      this.opts.logger.warn({
        event: 'connection',
        client: raw.remoteAddress,
        result: 'refused',
        reason: over,
      });
      raw.destroy();
      return;
    }
    this.countOpen(raw, at);
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
      raw.pause();
      const rest = buffered.subarray(consumed);
      if (rest.length > 0) raw.unshift(rest);
      // The HTTPS server creates the TLSSocket synchronously in this emit, with the context of
      // this.snapshot: record that snapshot, the one OpenSSL verifies this handshake against.
      this.accepted.set(raw, { at, ...info, verifiedBy: this.snapshot });
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
    const timer = setTimeout(() => {
      if (this.evicted.has(raw))
        cleanup(); // closed to make room: counted as that, not as a timeout
      else refuse('timeout', mode === 'v2' ? 'no PROXY header in time' : 'no data in time');
    }, this.opts.handshakeTimeoutSeconds * 1000);
    raw.on('data', onData);
    raw.on('error', onError);
    raw.resume();
  }

  /**
   * Open connections in total, those still handshaking (unauthenticated: counted from accept, cut
   * handshakeTimeoutSeconds after it), and verified ones per client identity. The per-client count
   * is never keyed on the source address: behind an NLB without PROXY protocol every partner
   * shares it, and unauthenticated sockets from it must not keep a verified partner out.
   */
  private open = 0;
  private handshaking = 0;
  /** Ends a raw socket's handshaking phase (once): its verdict is in, or it closed. */
  private readonly handshakeDone = new WeakMap<Socket, () => void>();
  private readonly timedOut = new WeakSet<Socket>();
  private readonly openPerClient = new Map<string, number>();
  /** Strict: refused connections kept for their one answer, oldest first (in the handshaking cap). */
  private readonly refusedHeld = new Set<TLSSocket>();

  /** Raw sockets still handshaking, oldest first (a Set keeps insertion order). */
  private readonly handshakingSockets = new Set<Socket>();
  /** Those of them that have not sent a single byte yet, oldest first: the only ones evicted. */
  private readonly silentSockets = new Set<Socket>();
  /** Sockets closed to make room: the TLS layer's error on them is not a handshake failure. */
  private readonly evicted = new WeakSet<Socket>();

  /**
   * Closes the oldest socket that has sent nothing yet to make room for a new one; false when
   * there is none (the newcomer is refused). A socket that has started its handshake (a partner
   * one round trip from done) is never evicted, so silent connects only push out each other.
   */
  private evictOldestHandshaking(newcomer: string | undefined): boolean {
    const oldest = this.silentSockets.values().next();
    if (oldest.done) return false;
    const raw = oldest.value;
    this.handshakeDone.get(raw)?.(); // frees the slot now, not when 'close' fires
    this.evicted.add(raw);
    this.evict(raw, { client: raw.remoteAddress, client_port: raw.remotePort }, 'unauthenticated', newcomer);
    return true;
  }

  /**
   * Closes the oldest refused connection still waiting for its one answer (strict) to make room;
   * false when there is none.
   */
  private evictOldestRefused(newcomer: string | undefined): boolean {
    const oldest = this.refusedHeld.values().next();
    if (oldest.done) return false;
    const socket = oldest.value;
    this.refusedHeld.delete(socket); // frees the slot now, not when 'close' fires
    this.evict(socket, this.clientOf(socket), 'refused', newcomer);
    return true;
  }

  /** An eviction from the handshaking slots: counted as handshaking_evicted, logged, closed. */
  private evict(
    socket: Socket,
    peer: Record<string, unknown>,
    what: 'unauthenticated' | 'refused',
    newcomer: string | undefined,
  ): void {
    const reason = 'handshaking_evicted';
    this.opts.metrics.connectionsRefused.inc({ reason });
    const closed =
      what === 'refused'
        ? 'the oldest refused connection awaiting its answer'
        : 'the oldest unauthenticated connection';
    this.opts.logger.warn({
      event: 'connection',
      ...peer,
      result: 'evicted',
      reason,
      detail: `GATEWAY_MAX_HANDSHAKING_CONNECTIONS full: ${closed} closed for a new one from ${newcomer ?? 'unknown'}`,
    });
    socket.destroy();
  }

  private overAcceptLimit(): 'max_connections' | 'max_handshaking_connections' | undefined {
    const { maxConnections, maxHandshakingConnections } = this.opts.limits;
    if (this.open >= maxConnections) return 'max_connections';
    if (this.handshaking + this.refusedHeld.size >= maxHandshakingConnections)
      return 'max_handshaking_connections';
    return undefined;
  }

  private countOpen(raw: Socket, at: bigint): void {
    const { metrics } = this.opts;
    this.open++;
    this.handshaking++;
    this.handshakingSockets.add(raw);
    this.silentSockets.add(raw);
    raw.once('data', () => this.silentSockets.delete(raw));
    metrics.handshakingConnections.inc();
    // One deadline from accept to verdict, whatever the client trickles: before TLS starts, accept's
    // own timer (same length) refuses it; after, this one does, so a slow handshake gets no more.
    const deadline = setTimeout(() => {
      if (!this.accepted.has(raw)) return;
      this.refusedBeforeTls(raw, 'timeout', 'TLS handshake not finished in time', at);
      this.timedOut.add(raw); // the TLS layer's error on this socket is the same refusal: not counted twice
      raw.destroy();
    }, this.opts.handshakeTimeoutSeconds * 1000);
    let handshaking = true;
    const done = (): void => {
      if (!handshaking) return;
      handshaking = false;
      clearTimeout(deadline);
      this.handshakingSockets.delete(raw);
      this.silentSockets.delete(raw);
      this.handshaking--;
      metrics.handshakingConnections.dec();
    };
    this.handshakeDone.set(raw, done);
    raw.once('close', () => {
      done();
      this.open--;
    });
  }

  /** After the gate: the handshake is over; a verified connection counts against its client. */
  private afterGate(socket: TLSSocket): void {
    const raw = (socket as WithParent)._parent;
    if (raw) this.handshakeDone.get(raw)?.();
    const state = stateOf(socket);
    if (socket.destroyed || !state) return;
    const verdict = state.initialVerdict;
    if (!verdict.ok && this.opts.verifyMode === 'strict') {
      // Unauthenticated, like a handshake: bounded by the handshaking cap and the refusal deadline.
      this.refusedHeld.add(socket);
      socket.once('close', () => this.refusedHeld.delete(socket));
      return;
    }
    const key = verdict.ok
      ? (this.opts.decorator.clientKey?.(verdict) ?? `cert:${verdict.identity.fingerprint256}`)
      : 'refused'; // explain mode: refused connections share one count
    const n = this.openPerClient.get(key) ?? 0;
    if (n >= this.opts.limits.maxConnectionsPerClient) {
      const reason = 'max_connections_per_client';
      this.opts.metrics.connectionsRefused.inc({ reason });
      this.opts.logger.warn({
        event: 'connection',
        client: state.remoteAddress,
        partner_id: state.partnerId,
        result: 'refused',
        reason,
      });
      socket.destroy();
      return;
    }
    this.openPerClient.set(key, n + 1);
    socket.once('close', () => {
      const left = (this.openPerClient.get(key) ?? 1) - 1;
      if (left === 0) this.openPerClient.delete(key);
      else this.openPerClient.set(key, left);
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
    // (proxy/client-errors.ts closes the connection); the context's SSL_OP_NO_RENEGOTIATION refuses it in OpenSSL.
    socket.disableRenegotiation();
    // Judged against the snapshot that verified the handshake (unknown: refused as unloaded); if
    // trust was swapped mid-handshake, re-judged against the current one before any request.
    const verifiedBy = this.acceptedOf(socket)?.verifiedBy;
    let verdict = verifyNewConnection(socket, verifiedBy, revocationPolicy);
    if (verdict.ok && verifiedBy !== undefined && verifiedBy !== this.snapshot) {
      verdict = recheckConnection(verdict, verifiedBy, this.snapshot, revocationPolicy);
    }
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
      const { partnerId } = this.opts.decorator.decorate(verdict);
      stage.where = 'attach';
      attachState(socket, new ConnectionState(verdict, this.snapshot, remote, partnerId));
      metrics.handshakes.inc({ result: 'success' });
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
    attachState(socket, new ConnectionState(verdict, this.snapshot, remote, undefined));
    if (verifyMode === 'explain') return;
    // Strict: one request gets the readable refusal with Connection: close (request handler);
    // a client that sends none in time loses the connection as before.
    const seconds = Math.min(REFUSED_CONNECTION_SECONDS, this.opts.handshakeTimeoutSeconds);
    const deadline = setTimeout(() => socket.destroy(), seconds * 1000);
    socket.once('close', () => clearTimeout(deadline));
  }

  private handshakeFailed(err: Error, socket: TLSSocket): void {
    const raw = (socket as WithParent)._parent;
    if (raw && (this.timedOut.has(raw) || this.evicted.has(raw))) {
      socket.destroy();
      return;
    }
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
