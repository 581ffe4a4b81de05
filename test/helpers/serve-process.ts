/**
 * The real `mtls-gateway serve` process (dist/, so `npm test` builds first) on ephemeral loopback
 * ports, with its JSON log lines parsed as they arrive. For tests of what only a process shows:
 * signals, exit codes, cluster workers.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import type { AddressInfo } from 'node:net';
import { resolve } from 'node:path';
import { createInterface } from 'node:readline';
import type { LogLine } from './gateway.js';
import { gatewayEnv, type TestPki } from './pki.js';

export const CLI = resolve(import.meta.dirname, '../../dist/cli/main.js');

/**
 * Every process group started here in this test worker, killed when the worker exits: a test that
 * fails between starting `serve` and stopping it must not leave a gateway (or its cluster workers)
 * running. One registry per worker process, however often this module is loaded.
 */
const GROUPS = Symbol.for('mtls-gateway/test-serve-groups');
const registry = globalThis as { [GROUPS]?: Set<number> };
const groups: Set<number> =
  registry[GROUPS] ??
  (() => {
    const set = new Set<number>();
    registry[GROUPS] = set;
    process.once('exit', () => {
      for (const pid of set) killGroup(pid);
    });
    return set;
  })();

function killGroup(pid: number): void {
  try {
    process.kill(-pid, 'SIGKILL');
  } catch {
    // The group is gone already.
  }
}

export interface ServeProcess {
  readonly child: ChildProcess;
  /** Every log line so far. */
  readonly lines: LogLine[];
  /** The first line (already logged, or the next ones from index `from` on) that matches. */
  waitLog(match: (l: LogLine) => boolean, from?: number): Promise<LogLine>;
  readonly exited: Promise<number | null>;
  readonly tlsPort: number;
  readonly adminPort: number;
  /**
   * SIGKILLs the process and everything it started (its cluster workers: a worker can outlive a
   * primary killed mid-start), for afterAll. The process leads its own process group.
   */
  kill(): void;
}

/** Starts `serve` on the test PKI (file sources) with `env` on top; resolves once both listen. */
export async function startServe(
  pki: TestPki,
  upstreamPort: number,
  env: Record<string, string> = {},
  /** `nofile`: the process's RLIMIT_NOFILE (set with the shell's `ulimit -n` before exec). */
  opts: { nofile?: number } = {},
): Promise<ServeProcess> {
  const [command, args] =
    opts.nofile === undefined
      ? [process.execPath, [CLI, 'serve']]
      : ['/bin/sh', ['-c', `ulimit -n ${opts.nofile} && exec "$0" "$@"`, process.execPath, CLI, 'serve']];
  const child = spawn(command, args, {
    env: {
      PATH: process.env.PATH,
      ...gatewayEnv(pki, upstreamPort),
      ...env,
    },
    stdio: ['ignore', 'pipe', 'inherit'],
    detached: true,
  });
  if (child.pid !== undefined) groups.add(child.pid);
  const lines: LogLine[] = [];
  const waiters: { match: (l: LogLine) => boolean; resolve: (l: LogLine) => void }[] = [];
  createInterface({ input: child.stdout! }).on('line', (text) => {
    const line = JSON.parse(text) as LogLine;
    lines.push(line);
    for (const w of waiters.splice(0)) {
      if (w.match(line)) w.resolve(line);
      else waiters.push(w);
    }
  });
  const waitLog = (match: (l: LogLine) => boolean, from = 0): Promise<LogLine> => {
    const found = lines.slice(from).find(match);
    return found ? Promise.resolve(found) : new Promise((r) => waiters.push({ match, resolve: r }));
  };
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  // Native lines carry `msg` and `address`; GATEWAY_LOG_FORMAT=ecs ones `message` and `server.port`.
  const port = (msg: string): Promise<number> =>
    waitLog((l) => l.msg === msg || l.message === msg).then(
      (l) => ((l.address ?? l.server) as AddressInfo).port,
    );
  const [tlsPort, adminPort] = await Promise.all([port('TLS listening'), port('admin listening')]);
  const kill = (): void => {
    if (child.pid !== undefined) killGroup(child.pid);
  };
  return { child, lines, waitLog, exited, tlsPort, adminPort, kill };
}
