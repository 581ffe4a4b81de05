/**
 * Forwarding one request to an upstream with undici: a keep-alive pool per origin, bodies streamed
 * both ways (never buffered), timeouts bounded, a client abort aborting the upstream request, and
 * every upstream failure mapped to a stable kind so the caller answers 502/504 with a request id.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { pipeline } from 'node:stream/promises';
import { Pool } from 'undici';
import type { GatewayErrorCode } from './errors.js';
import { downstreamHeaders } from './upstream-headers.js';

export interface UpstreamTimeouts {
  readonly connectSeconds: number;
  readonly responseSeconds: number;
}

export type UpstreamFailureKind = 'connect' | 'connect_timeout' | 'timeout' | 'reset' | 'other';

export class UpstreamFailure extends Error {
  override readonly name = 'UpstreamFailure';
  constructor(
    readonly kind: UpstreamFailureKind,
    readonly code: GatewayErrorCode,
    readonly causeCode: string,
  ) {
    super(`upstream ${kind} (${causeCode})`);
  }
}

function classify(err: unknown): UpstreamFailure {
  const code = (err as NodeJS.ErrnoException)?.code ?? (err as Error)?.name ?? 'unknown';
  switch (code) {
    case 'ECONNREFUSED':
    case 'ENOTFOUND':
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
    case 'EAI_AGAIN':
      return new UpstreamFailure('connect', 'upstream_unavailable', code);
    case 'UND_ERR_CONNECT_TIMEOUT':
      return new UpstreamFailure('connect_timeout', 'upstream_timeout', code);
    case 'UND_ERR_HEADERS_TIMEOUT':
    case 'UND_ERR_BODY_TIMEOUT':
      return new UpstreamFailure('timeout', 'upstream_timeout', code);
    case 'UND_ERR_SOCKET':
    case 'ECONNRESET':
    case 'EPIPE':
      return new UpstreamFailure('reset', 'upstream_reset', code);
    default:
      return new UpstreamFailure('other', 'upstream_unavailable', code);
  }
}

export interface ForwardResult {
  readonly status: number;
  readonly upstreamMs: number;
  readonly bytesOut: number;
}

export class Upstream {
  private readonly pool: Pool;

  constructor(
    readonly origin: URL,
    timeouts: UpstreamTimeouts,
  ) {
    this.pool = new Pool(origin, {
      connections: 256,
      pipelining: 1,
      keepAliveTimeout: 4_000,
      connect: { timeout: timeouts.connectSeconds * 1000 },
      headersTimeout: timeouts.responseSeconds * 1000,
      bodyTimeout: timeouts.responseSeconds * 1000,
    });
  }

  /**
   * Sends `req` upstream and streams the answer into `res`. Throws UpstreamFailure before any
   * response byte is written; after that a failure cuts the client's response instead.
   */
  async forward(
    req: IncomingMessage,
    res: ServerResponse,
    headers: string[],
    path: string,
    /** Called when the response starts, so drain can still add `Connection: close`. */
    responseHeaders: () => Readonly<Record<string, string>>,
  ): Promise<ForwardResult> {
    const abort = new AbortController();
    const onClose = (): void => {
      if (!res.writableFinished) abort.abort();
    };
    res.once('close', onClose);
    const started = performance.now();
    const hasBody =
      req.headers['content-length'] !== undefined
        ? req.headers['content-length'] !== '0'
        : req.headers['transfer-encoding'] !== undefined;
    let response: Awaited<ReturnType<Pool['request']>>;
    try {
      response = await this.pool.request({
        path,
        method: req.method as 'GET',
        headers,
        body: hasBody ? req : null,
        signal: abort.signal,
      });
    } catch (err) {
      res.off('close', onClose);
      if (abort.signal.aborted) throw new UpstreamFailure('other', 'upstream_unavailable', 'client_aborted');
      throw classify(err);
    }
    const upstreamMs = performance.now() - started;
    let bytesOut = 0;
    response.body.on('data', (chunk: Buffer) => {
      bytesOut += chunk.length;
    });
    res.writeHead(response.statusCode, { ...downstreamHeaders(response.headers), ...responseHeaders() });
    try {
      await pipeline(response.body, res);
    } catch {
      // Client went away or upstream broke mid-body: the response is cut; nothing more to say.
      res.destroy();
    } finally {
      res.off('close', onClose);
    }
    return { status: response.statusCode, upstreamMs, bytesOut };
  }

  close(): Promise<void> {
    return this.pool.close();
  }

  destroy(): Promise<void> {
    return this.pool.destroy();
  }
}
