/**
 * The operators' load generator: N connections with client certificates against a URL, keep-alive
 * or a new TLS connection (optionally resumed) per request, closed-loop or at a fixed rate. Times
 * are recorded in HDR histograms (perf_hooks); at a fixed rate, latency is measured from the
 * moment a request was due, so a stalled server cannot hide its queueing (coordinated omission).
 * Loopback or the operator's own hosts only: it sends exactly the bounded load asked for. An
 * http:// URL measures a plain upstream the same way, as the baseline for the gateway's added latency.
 */
import { createHistogram, type RecordableHistogram } from 'node:perf_hooks';
import { type ConnectionOptions, createSecureContext, type TLSSocket, connect as tlsConnect } from 'node:tls';
import { Client } from 'undici';

export interface LoadOptions {
  readonly url: URL;
  readonly tls: Pick<ConnectionOptions, 'cert' | 'key' | 'ca' | 'rejectUnauthorized' | 'servername'>;
  readonly connections: number;
  /** Stop after this many seconds … */
  readonly durationSeconds?: number;
  /**
   * With durationSeconds: first send the same load this long without measuring it (JIT, pools,
   * caches of both sides warm up), then measure for durationSeconds.
   */
  readonly warmupSeconds?: number;
  /** … or after this many requests (whichever is given; one of them must be). */
  readonly requests?: number | undefined;
  /** Requests per second across all connections; undefined = as fast as possible. */
  readonly rate?: number;
  readonly newConnectionPerRequest: boolean;
  /** With newConnectionPerRequest: offer the previous TLS session so the server may resume it. */
  readonly resume: boolean;
  readonly method: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly body?: Buffer;
  /** Called about once a second with the running totals (progress line). */
  readonly onProgress?: (p: Progress) => void;
}

export interface Progress {
  readonly elapsedSeconds: number;
  readonly requests: number;
  readonly errors: number;
}

export interface Percentiles {
  readonly p50: number;
  readonly p90: number;
  readonly p99: number;
  readonly max: number;
  readonly mean: number;
}

export interface LoadReport {
  /** The measured window (after any warm-up). */
  readonly durationSeconds: number;
  /** Requests sent during the warm-up and left out of every other number. */
  readonly warmupRequests: number;
  readonly requests: number;
  readonly requestsPerSecond: number;
  readonly handshakes: number;
  readonly resumedHandshakes: number;
  readonly handshakesPerSecond: number;
  /** Milliseconds. */
  readonly latencyMs: Percentiles;
  readonly handshakeMs: Percentiles | undefined;
  readonly statuses: Readonly<Record<string, number>>;
  readonly errors: Readonly<Record<string, number>>;
  readonly bytesReceived: number;
}

function percentiles(h: RecordableHistogram): Percentiles {
  const ms = (ns: number): number => Math.round(ns / 1e3) / 1e3;
  return {
    p50: ms(h.percentile(50)),
    p90: ms(h.percentile(90)),
    p99: ms(h.percentile(99)),
    max: ms(h.max),
    mean: ms(h.mean),
  };
}

function errorKind(err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  return e?.code ?? e?.name ?? 'error';
}

export async function runLoad(opts: LoadOptions): Promise<LoadReport> {
  if (opts.durationSeconds === undefined && opts.requests === undefined) {
    throw new Error('give a duration or a number of requests');
  }
  const latency = createHistogram();
  const handshake = createHistogram();
  const statuses: Record<string, number> = {};
  const errors: Record<string, number> = {};
  let done = 0;
  let failed = 0;
  let started = 0;
  let handshakes = 0;
  let resumed = 0;
  let bytes = 0;
  let session: Buffer | undefined;
  const port = Number(opts.url.port || 443);
  const host = opts.url.hostname;
  const path = `${opts.url.pathname}${opts.url.search}`;
  if (opts.warmupSeconds !== undefined && opts.durationSeconds === undefined) {
    throw new Error('a warm-up goes with a duration');
  }
  const t0 = performance.now();
  const measureFrom = t0 + (opts.warmupSeconds ?? 0) * 1000;
  const deadline =
    opts.durationSeconds === undefined ? Number.POSITIVE_INFINITY : measureFrom + opts.durationSeconds * 1000;
  let warmup = 0;
  const budgetLeft = (): boolean =>
    performance.now() < deadline && (opts.requests === undefined || started < opts.requests);

  // One context for every connection: building it per connection (parsing the key and CAs) would
  // cost the client milliseconds per handshake and understate the server's handshake rate.
  const { cert, key, ca, rejectUnauthorized, servername } = opts.tls;
  const secureContext = opts.url.protocol === 'https:' ? createSecureContext({ cert, key, ca }) : undefined;
  const connector = (_o: unknown, cb: (err: Error | null, socket: TLSSocket | null) => void): void => {
    const begin = process.hrtime.bigint();
    const socket = tlsConnect({
      host,
      port,
      servername: servername ?? host,
      secureContext,
      ...(rejectUnauthorized === undefined ? {} : { rejectUnauthorized }),
      ...(opts.resume && session ? { session } : {}),
      ALPNProtocols: ['http/1.1'],
    });
    socket.setNoDelay(true); // a load generator must not add Nagle delays of its own
    socket.once('session', (s: Buffer) => {
      session = s;
    });
    socket.once('secureConnect', () => {
      if (performance.now() >= measureFrom) {
        handshakes++;
        if (socket.isSessionReused()) resumed++;
        handshake.record(Math.max(1, Number(process.hrtime.bigint() - begin)));
      }
      socket.off('error', onError);
      cb(null, socket);
    });
    const onError = (err: Error): void => cb(err, null);
    socket.once('error', onError);
  };

  // http:// (a baseline, e.g. the upstream measured directly): undici's own TCP connector.
  const newClient = (): Client =>
    new Client(opts.url.origin, {
      ...(secureContext ? { connect: connector as never } : {}),
      pipelining: 1,
      keepAliveTimeout: 30_000,
    });

  const one = async (client: Client, dueAt: number, record = true): Promise<void> => {
    let status: number | undefined;
    let error: string | undefined;
    let received = 0;
    try {
      const res = await client.request({
        path,
        method: opts.method as 'GET',
        headers: opts.headers,
        body: opts.body ?? null,
      });
      for await (const chunk of res.body) received += (chunk as Buffer).length;
      status = res.statusCode;
    } catch (err) {
      error = errorKind(err);
    }
    if (dueAt < measureFrom) {
      warmup++; // the warm-up counts nowhere else
      return;
    }
    bytes += received;
    if (status !== undefined) statuses[status] = (statuses[status] ?? 0) + 1;
    if (error !== undefined) errors[error] = (errors[error] ?? 0) + 1;
    if (error !== undefined || (status ?? 0) >= 400) failed++;
    if (record) latency.record(Math.max(1, Math.round((performance.now() - dueAt) * 1e6)));
    done++;
  };

  const interval = opts.rate ? 1000 / opts.rate : 0;
  let nextDue = t0;
  /** When the next request may start: now (closed loop) or its slot in the schedule (open loop). */
  const takeSlot = async (): Promise<number> => {
    if (!interval) return performance.now();
    const due = nextDue;
    nextDue += interval;
    // Timers may fire a fraction of a millisecond early: wait until the slot is really due.
    for (let wait = due - performance.now(); wait > 0; wait = due - performance.now()) {
      await new Promise((r) => setTimeout(r, Math.max(1, wait)));
    }
    return due;
  };

  const worker = async (first: Client | undefined): Promise<void> => {
    let client = first;
    while (budgetLeft()) {
      started++;
      const due = await takeSlot();
      if (performance.now() >= deadline) break;
      if (opts.newConnectionPerRequest) {
        const c = newClient();
        await one(c, due);
        await c.close().catch(() => undefined);
      } else {
        await one(client!, due);
        if (client!.destroyed || client!.closed) client = newClient();
      }
    }
    await client?.close().catch(() => undefined);
  };

  const progress = opts.onProgress
    ? setInterval(
        () =>
          opts.onProgress?.({
            elapsedSeconds: (performance.now() - t0) / 1000,
            requests: done,
            errors: failed,
          }),
        1000,
      )
    : undefined;
  // Keep-alive: every connection's first request opens it (its TLS handshake is in `handshake`);
  // it counts as a request but not in the latency histogram, and the schedule starts after them,
  // so the percentiles describe the steady state rather than N handshakes queued at t0.
  const clients = Array.from({ length: Math.max(1, opts.connections) }, () =>
    opts.newConnectionPerRequest ? undefined : newClient(),
  );
  await Promise.all(
    clients.map((c) => {
      if (!c || !budgetLeft()) return undefined;
      started++;
      return one(c, performance.now(), false);
    }),
  );
  nextDue = performance.now();
  await Promise.all(clients.map((c) => worker(c)));
  if (progress) clearInterval(progress);
  const seconds = (performance.now() - measureFrom) / 1000;
  return {
    durationSeconds: Math.round(seconds * 1000) / 1000,
    warmupRequests: warmup,
    requests: done,
    requestsPerSecond: Math.round((done / seconds) * 10) / 10,
    handshakes,
    resumedHandshakes: resumed,
    handshakesPerSecond: Math.round((handshakes / seconds) * 10) / 10,
    latencyMs: percentiles(latency),
    handshakeMs: handshakes > 0 ? percentiles(handshake) : undefined,
    statuses,
    errors,
    bytesReceived: bytes,
  };
}
