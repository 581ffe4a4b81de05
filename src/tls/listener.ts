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
import type { AddressInfo, Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import type { Logger, Metrics } from '../observability/index.js';
import type { TrustSnapshot } from '../trust/snapshot.js';
import { type RevocationPolicy, type Verdict, verifyNewConnection } from './connection-gate.js';
import { attachState, ConnectionState } from './connection-state.js';
import { classifyHandshakeError } from './refusal.js';
import { secureContextOptions } from './secure-context.js';

export interface ListenerOptions {
  readonly verifyMode: 'strict' | 'explain';
  readonly revocationPolicy: RevocationPolicy;
  readonly handshakeTimeoutSeconds: number;
  readonly maxHeaderBytes: number;
  readonly maxHeaders: number;
  readonly logger: Logger;
  readonly metrics: Metrics;
  /** Identity headers and partner id for a verified connection, computed once. */
  readonly decorate: (verdict: Verdict & { ok: true }) => {
    headers: readonly (readonly [string, string])[];
    partnerId: string;
  };
  readonly onRequest: (req: IncomingMessage, res: ServerResponse) => void;
}

type WithParent = TLSSocket & { _parent?: Socket };

export class TlsListener {
  readonly server: Server;
  private snapshot: TrustSnapshot;
  private readonly acceptedAt = new WeakMap<Socket, bigint>();

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
        // Idle keep-alive below the NLB's 350 s idle timeout, so we close first and cleanly.
        keepAliveTimeout: 60_000,
        headersTimeout: 20_000,
        requestTimeout: 300_000,
        noDelay: true,
      },
      opts.onRequest,
    );
    // Node drops headers beyond maxHeadersCount silently; allow one more so we can see and refuse.
    this.server.maxHeadersCount = opts.maxHeaders + 1;
    this.server.setTicketKeys(randomBytes(48));
    this.server.on('connection', (raw: Socket) => {
      this.acceptedAt.set(raw, process.hrtime.bigint());
      opts.metrics.activeConnections.inc();
      raw.once('close', () => opts.metrics.activeConnections.dec());
    });
    // Runs before the HTTP layer's own secureConnection listener: nothing reads a byte of HTTP
    // from a connection this gate has not decided.
    this.server.prependListener('secureConnection', (socket: TLSSocket) => this.gate(socket));
    this.server.on('tlsClientError', (err: Error, socket: TLSSocket) => this.handshakeFailed(err, socket));
  }

  get current(): TrustSnapshot {
    return this.snapshot;
  }

  /** Installs a new snapshot for new connections: one whole context, fresh ticket keys. */
  swap(snapshot: TrustSnapshot): void {
    this.server.setSecureContext(secureContextOptions(snapshot.caBundle, snapshot.server));
    this.server.setTicketKeys(randomBytes(48));
    this.snapshot = snapshot;
  }

  listen(host: string, port: number): Promise<AddressInfo> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen({ host, port }, () => {
        this.server.off('error', reject);
        resolve(this.server.address() as AddressInfo);
      });
    });
  }

  private elapsedSeconds(socket: TLSSocket): number {
    const raw = (socket as WithParent)._parent;
    const start = raw ? this.acceptedAt.get(raw) : undefined;
    return start === undefined ? 0 : Number(process.hrtime.bigint() - start) / 1e9;
  }

  private gate(socket: TLSSocket): void {
    const { logger, metrics, revocationPolicy, verifyMode } = this.opts;
    const verdict = verifyNewConnection(socket, this.snapshot, revocationPolicy);
    const duration = this.elapsedSeconds(socket);
    const cipher = socket.getCipher();
    const base = {
      event: 'handshake',
      client: socket.remoteAddress,
      client_port: socket.remotePort,
      tls_version: socket.getProtocol(),
      cipher: cipher?.standardName ?? cipher?.name,
      resumed: socket.isSessionReused(),
      duration_ms: Math.round(duration * 1e6) / 1e3,
    };
    const remote = socket.remoteAddress ?? '';
    if (verdict.ok) {
      const { headers, partnerId } = this.opts.decorate(verdict);
      attachState(socket, new ConnectionState(verdict, this.snapshot, remote, headers, partnerId));
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
    });
    if (verifyMode === 'explain') {
      attachState(socket, new ConnectionState(verdict, this.snapshot, remote, [], undefined));
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
      client: socket.remoteAddress,
      client_port: socket.remotePort,
      result: 'failure',
      reason,
      detail: (err as NodeJS.ErrnoException).code ?? err.message.split('\n')[0],
      duration_ms: Math.round(duration * 1e6) / 1e3,
    });
    socket.destroy();
  }
}
