/**
 * The plain-HTTP admin listener (health, readiness, metrics, trust status). It binds its own
 * address (127.0.0.1 by default, the VPC in AWS) and is never reachable on the TLS port. It stays
 * up during drain so the load balancer sees /readyz turn 503.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';
import type { TrustStatus } from '../trust/trust-status.js';

export interface AdminOptions {
  readonly registry: Registry;
  /** The Prometheus text when it is not the registry's own (cluster mode: aggregated over workers). */
  readonly metricsText?: () => Promise<string>;
  /** undefined when ready, else the reason for 503. */
  readonly notReadyReason: () => string | undefined;
  /** GET /trust. */
  readonly trustStatus: () => TrustStatus;
  /** Client certificates expiring soon (the expiry radar), for GET /trust/expiring. */
  readonly expiringClientCerts?: () => unknown;
}

function json(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(text),
    'cache-control': 'no-store',
  });
  res.end(text);
}

export class AdminServer {
  readonly server: Server;

  constructor(private readonly opts: AdminOptions) {
    this.server = createServer((req, res) => {
      this.handle(req, res).catch(() => json(res, 500, { error: 'internal_error' }));
    });
    this.server.keepAliveTimeout = 5_000;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (req.method !== 'GET' && req.method !== 'HEAD') return json(res, 405, { error: 'method_not_allowed' });
    const path = (req.url ?? '/').split('?')[0];
    switch (path) {
      case '/healthz':
        return json(res, 200, { status: 'ok' });
      case '/readyz': {
        const reason = this.opts.notReadyReason();
        return reason === undefined
          ? json(res, 200, { status: 'ready' })
          : json(res, 503, { status: 'not_ready', reason });
      }
      case '/metrics': {
        const text = await (this.opts.metricsText ?? (() => this.opts.registry.metrics()))();
        res.writeHead(200, { 'content-type': this.opts.registry.contentType });
        res.end(text);
        return;
      }
      case '/trust':
        return json(res, 200, this.opts.trustStatus());
      case '/trust/expiring':
        if (!this.opts.expiringClientCerts) return json(res, 404, { error: 'not_found' });
        return json(res, 200, this.opts.expiringClientCerts());
      default:
        return json(res, 404, { error: 'not_found' });
    }
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

  close(): Promise<void> {
    return new Promise((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }
}
