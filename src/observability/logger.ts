/**
 * The pino JSON logger: one line per event on stdout. Events carry `event` (handshake, request,
 * connection, internal_error, trust, lifecycle, policy). GATEWAY_LOG_FORMAT picks the fields:
 * `native` (default) is the documented stable contract (CloudWatch metric filters, runbooks and
 * dashboards read it), `ecs` rewrites each line into Elastic Common Schema fields (ecs-format.ts,
 * docs/logging.md) for Elastic/OpenSearch/Datadog-style pipelines. Certificates are logged by subject, serial, issuer and fingerprint
 * only; a serializer-free design keeps private keys and PEM out of every line by construction.
 *
 * Lines are batched (up to 8 KiB, flushed at least every 100 ms and synchronously at exit): one
 * write per request cost a third of the proxy's throughput, and a log line 100 ms late costs nothing.
 *
 * The buffer is bounded (GATEWAY_LOG_BUFFER_BYTES): while stdout cannot take lines (a stalled log
 * driver, a full pipe) they wait up to that size, then new ones are dropped and counted
 * (`log_lines_dropped_total`) rather than growing memory without end. At exit, a stdout that
 * dropped lines or has taken nothing for STUCK_MS since its oldest pending line is given up on
 * (those lines counted as dropped): a synchronous flush into a pipe nobody reads would block
 * forever, and SIGTERM must end the process.
 */
import { type DestinationStream, type LevelWithSilent, type Logger, type LoggerOptions, pino } from 'pino';
import type { LogFormat } from '../config/config.js';
import { bindingsToEcs, toEcs } from './ecs-format.js';

export type { Logger } from 'pino';

const FLUSH_EVERY_MS = 100;
const DEFAULT_BUFFER_BYTES = 4 * 1024 * 1024;
/** A stdout with lines pending and no write completed for this long is blocked (a pipe with a live
 * reader takes a batch in microseconds). */
const STUCK_MS = 250;
/** How long the flush at exit retries a stdout answering EAGAIN. */
const EXIT_FLUSH_MS = 1_000;
interface StdoutDestination {
  readonly stream: ReturnType<typeof pino.destination>;
  /** When the oldest line not yet confirmed written was logged (undefined: none pending). */
  pendingSince: number | undefined;
  pendingLines: number;
  /** Lines dropped since the last completed write: the buffer is full and stdout not moving. */
  droppedSinceWrite: number;
}
const stdoutDestinations: StdoutDestination[] = [];
let droppedLines = 0;
/** Set while flushing at exit: past it, a stdout answering EAGAIN is given up on. */
let exitFlushDeadline: number | undefined;

/** Log lines dropped since start because stdout could not take them in time. */
export function logLinesDropped(): number {
  return droppedLines;
}

function countDropped(data: string | Buffer): void {
  let n = 0;
  for (let i = data.indexOf('\n'); i >= 0; i = data.indexOf('\n', i + 1)) n++;
  droppedLines += Math.max(1, n);
}

export function createLogger(
  level: LevelWithSilent,
  destination?: DestinationStream,
  /** batch: false for processes sharing stdout (cluster workers): one whole line per write. */
  {
    batch = true,
    maxBufferBytes = DEFAULT_BUFFER_BYTES,
    format = 'native',
  }: { batch?: boolean; maxBufferBytes?: number; format?: LogFormat } = {},
): Logger {
  let dest = destination;
  if (!dest) {
    // Opening process.stdout makes a pipe on fd 1 non-blocking (libuv's uv_pipe_open), so a pipe
    // nobody reads answers EAGAIN (retried, bounded, dropped) instead of parking a libuv thread in
    // write(): a thread blocked there also blocks process exit, which joins the thread pool.
    void process.stdout;
    const stdout = pino.destination({
      dest: 1,
      sync: false,
      minLength: batch ? 8 * 1024 : 0,
      maxLength: maxBufferBytes,
      // Keep retrying a busy stdout, except in the flush at exit once its deadline has passed.
      retryEAGAIN: () => exitFlushDeadline === undefined || performance.now() < exitFlushDeadline,
    });
    const watched: StdoutDestination = {
      stream: stdout,
      pendingSince: undefined,
      pendingLines: 0,
      droppedSinceWrite: 0,
    };
    stdout.on('drop', (data: string | Buffer) => {
      countDropped(data);
      watched.pendingLines--;
      watched.droppedSinceWrite++;
    });
    // Progress: a write to fd 1 completed, so what was pending before it reached stdout.
    stdout.on('write', () => {
      watched.pendingSince = undefined;
      watched.pendingLines = 0;
      watched.droppedSinceWrite = 0;
    });
    const write = stdout.write.bind(stdout);
    stdout.write = (data: string): boolean => {
      watched.pendingSince ??= performance.now();
      watched.pendingLines++;
      return write(data);
    };
    setInterval(() => stdout.flush(), FLUSH_EVERY_MS).unref();
    stdoutDestinations.push(watched);
    dest = stdout;
  }
  return pino({ level, ...(format === 'ecs' ? ECS_OPTIONS : NATIVE_OPTIONS) }, dest);
}

/** Today's lines, unchanged: `level`, `time`, `service`, then the fields as the code names them. */
const NATIVE_OPTIONS: LoggerOptions = {
  base: { service: 'mtls-gateway' },
  timestamp: pino.stdTimeFunctions.isoTime,
  formatters: { level: (label) => ({ level: label }) },
};

/** A line and its level label: pino's mixin sees the level, formatters.log does not. */
interface Levelled {
  readonly line: Record<string, unknown>;
  readonly level: string | undefined;
}

/**
 * ECS: `log.level`, `@timestamp`, the bindings as `service.name` (and `service.node.name`,
 * `process.pid`, `labels.role` in the cluster), then the line rewritten by the mapping table.
 */
const ECS_OPTIONS: LoggerOptions = {
  base: { service: 'mtls-gateway' },
  messageKey: 'message',
  timestamp: () => `,"@timestamp":"${new Date().toISOString()}"`,
  mixin: (_obj, level, logger) => ({ level: logger.levels.labels[level] }),
  // Wraps instead of copying the line's fields into the mixin's object (pino's default).
  mixinMergeStrategy: (line, mixed): Levelled => ({
    line: line as Record<string, unknown>,
    level: (mixed as { level?: string }).level,
  }),
  formatters: {
    level: (label) => ({ 'log.level': label }),
    bindings: (bindings) => bindingsToEcs(bindings),
    log: (obj) => {
      const { line, level } = obj as unknown as Levelled;
      return toEcs(line, level);
    },
  },
  onChild: ecsChildBindings,
};

/**
 * pino serializes a child's bindings without the base's `formatters.bindings` (by design), so
 * `logger.child({ worker })` would write `worker` as is: its part of the serialized bindings is
 * rewritten here, through the same table, once per child logger.
 */
function ecsChildBindings(child: Logger): void {
  const key = pino.symbols.chindingsSym;
  const own = child as unknown as Record<symbol, string>;
  const inherited = (Object.getPrototypeOf(child) as Record<symbol, string>)[key] ?? '';
  const added = own[key]!.slice(inherited.length);
  if (!added) return;
  const bindings = JSON.parse(`{${added.slice(1)}}`) as Record<string, unknown>;
  let text = '';
  for (const [name, value] of Object.entries(bindingsToEcs(bindings))) {
    text += `,${JSON.stringify(name)}:${JSON.stringify(value)}`;
  }
  own[key] = inherited + text;
}

/**
 * Writes every batched line now and closes the destinations; call right before process.exit().
 * A blocked stdout is given up on (its pending lines counted as dropped) rather than waited for,
 * and closed so that no exit hook tries to flush it again.
 */
export function flushLogsSync(): void {
  const now = performance.now();
  exitFlushDeadline = now + EXIT_FLUSH_MS;
  for (const d of stdoutDestinations) {
    const stuck =
      d.droppedSinceWrite > 0 || (d.pendingSince !== undefined && now - d.pendingSince > STUCK_MS);
    if (stuck) {
      // Blocked: a synchronous write would never return. What is pending is lost, and counted.
      droppedLines += Math.max(0, d.pendingLines);
    } else {
      try {
        d.stream.flushSync();
      } catch {
        // Nothing buffered, stdout gone, or still refusing bytes at the deadline: nothing more to save.
      }
    }
    d.stream.destroy();
  }
}
