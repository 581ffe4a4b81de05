// Our peer harness: the gateway, the floor (Node https + undici, nothing of ours) and nginx/HAProxy
// on one generated PKI, one at a time, each pinned to CPU 0 while the upstream and the load
// generators run on CPU 1. Rates are per server core-second (CPU time of the server's whole process
// session from /proc), so a generator that is the bottleneck, or a busy neighbour, moves them less
// than the wall-clock rate. Prints a markdown table with the medians, the ratios gateway/floor and
// gateway/nginx, and every sample. Loopback only. Needs ab (apache2-utils), openssl, curl; nginx
// and haproxy are measured when installed. Build first (npm run build; bench/run.sh does).
//
//   node bench/peers/run.mjs [--time S=5] [--samples N=1] [--only gateway,floor,nginx,haproxy]
//     [--crl-entries N=10000] [--rate R=1000 (0: no latency phase)] [--phases ka,full,stime,latency]
//     [--gateway-log-level warn] [--baseline DIR (a built checkout, measured as "baseline")]
//     [--json FILE] [--keep] [--no-pin]
//
// Phases, each measured on a server started afresh for the latency one:
//   ka       ab -k -c 50: keep-alive requests (TLS 1.3), req/s, req per core-s, ab's p50/p99 (ms)
//   full     ab -c 20 (no -k): every request a new connection and a full TLS 1.3 handshake with a
//            client certificate (ab never resumes): handshake capacity
//   stime    openssl s_time -new and -reuse (TLS 1.3, one GET per connection): full vs resumed
//            handshakes per core-s, and their ratio
//   latency  mtls-gateway loadtest, open loop at R req/s over 20 keep-alive connections, latency from
//            when each request was due; the gateway logs at info here (one line per request, to a file)
// RSS: the session's summed VmRSS once started and checked (idle), and after the load.
import { spawn, spawnSync } from 'node:child_process';
import {
  closeSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { gatewayServer, SERVERS, upstreamCommand } from './servers.mjs';

const { values: opt } = parseArgs({
  options: {
    time: { type: 'string', default: '5' },
    samples: { type: 'string', default: '1' },
    only: { type: 'string' },
    'crl-entries': { type: 'string', default: '10000' },
    rate: { type: 'string', default: '1000' },
    phases: { type: 'string', default: 'ka,full,stime,latency' },
    'gateway-log-level': { type: 'string', default: 'warn' },
    json: { type: 'string' },
    baseline: { type: 'string' },
    keep: { type: 'boolean', default: false },
    'no-pin': { type: 'boolean', default: false },
  },
});
const root = resolve(import.meta.dirname, '../..');
const T = Number(opt.time);
const SAMPLES = Number(opt.samples);
const RATE = Number(opt.rate);
const phases = new Set(opt.phases.split(','));
if (RATE === 0) phases.delete('latency');
const wanted = opt.only?.split(',');
// --baseline DIR: also a gateway built in another checkout (e.g. main), measured in the same run.
const ALL = opt.baseline ? [...SERVERS, gatewayServer('baseline', resolve(opt.baseline))] : SERVERS;
const servers = ALL.filter((s) => (wanted ? wanted.includes(s.name) || s.name === 'baseline' : true));
const skipped = servers.filter((s) => !s.available()).map((s) => s.name);
const measured = servers.filter((s) => s.available());
const pin = !opt['no-pin'] && spawnSync('nproc').stdout.toString().trim() !== '1';
const onCpu = (cpu, argv) => (pin ? ['taskset', '-c', String(cpu), ...argv] : argv);
const HZ = Number(spawnSync('getconf', ['CLK_TCK']).stdout.toString()) || 100;
const log = (msg) => process.stderr.write(`[peers ${new Date().toISOString().slice(11, 19)}] ${msg}\n`);

for (const tool of ['ab', 'openssl', 'curl']) {
  if (spawnSync('sh', ['-c', `command -v ${tool}`]).status !== 0) {
    console.error(`bench/peers: ${tool} is missing (apt-get install apache2-utils openssl curl)`);
    process.exit(2);
  }
}

const work = mkdtempSync(join(tmpdir(), 'peers-'));
const pki = join(work, 'pki');
const started = [];
const stopAll = () => {
  for (const pid of started) {
    try {
      process.kill(-pid, 'SIGKILL');
    } catch {}
  }
};
process.on('exit', () => {
  stopAll();
  if (!opt.keep) rmSync(work, { recursive: true, force: true });
});
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => process.exit(130));

// ---------------------------------------------------------------- /proc accounting of a session
/** [pid, fields after the command name] of every process (fields[0] is the state: field 3 of stat). */
function processes() {
  const out = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'latin1');
      out.push([Number(name), stat.slice(stat.lastIndexOf(')') + 2).split(' ')]);
    } catch {} // gone meanwhile
  }
  return out;
}
/** CPU clock ticks (user + system, all threads) of every process in session `sid`. */
function sessionTicks(sid) {
  let ticks = 0;
  for (const [, f] of processes()) if (Number(f[3]) === sid) ticks += Number(f[11]) + Number(f[12]);
  return ticks;
}
/** Summed VmRSS and VmHWM (MiB) of session `sid` (a master and its workers each count in full). */
function sessionMemory(sid) {
  let rss = 0;
  let hwm = 0;
  for (const [pid, f] of processes()) {
    if (Number(f[3]) !== sid) continue;
    try {
      const status = readFileSync(`/proc/${pid}/status`, 'latin1');
      rss += Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
      hwm += Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? 0);
    } catch {}
  }
  return { rssMb: Math.round(rss / 1024), hwmMb: Math.round(hwm / 1024) };
}
/** Busy ticks of the whole machine (every CPU; steal counts as busy: someone else had it). */
function machineBusy() {
  const f = readFileSync('/proc/stat', 'latin1').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  return f.reduce((a, b) => a + b, 0) - f[3] - f[4]; // minus idle and iowait
}

// ---------------------------------------------------------------- processes we start
/** Starts argv in its own session (setsid: its pid is the session id), output to `logFile`. */
function launch(argv, env, cpu, logFile) {
  const fd = openSync(logFile, 'a');
  const child = spawn(onCpu(cpu, argv)[0], onCpu(cpu, argv).slice(1), {
    detached: true,
    stdio: ['ignore', fd, fd],
    env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env },
  });
  closeSync(fd);
  started.push(child.pid);
  child.on('exit', (code) => {
    child.exited = code ?? -1;
  });
  return child;
}
async function stop(child) {
  try {
    process.kill(-child.pid, 'SIGTERM');
  } catch {}
  for (let i = 0; i < 50 && child.exited === undefined; i++) await sleep(100);
  try {
    process.kill(-child.pid, 'SIGKILL');
  } catch {}
  started.splice(started.indexOf(child.pid), 1);
}
// Generous: the gateway listens once its trust is loaded, and a 1M-entry CRL takes a while on a busy box.
async function waitPort(port, child, seconds = 180) {
  const deadline = Date.now() + seconds * 1000;
  while (Date.now() < deadline) {
    if (child.exited !== undefined) return false;
    const ok = await new Promise((done) => {
      const s = connect(port, '127.0.0.1', () => {
        s.destroy();
        done(true);
      });
      s.on('error', () => done(false));
    });
    if (ok) return true;
    await sleep(100);
  }
  return false;
}

/**
 * Runs a load generator on CPU 1 while accounting the server's CPU, the upstream's and the
 * machine's; `times` (bash) reports the generator's own CPU.
 */
function measure(serverSid, upstreamSid, argv) {
  const s0 = sessionTicks(serverSid);
  const u0 = sessionTicks(upstreamSid);
  const m0 = machineBusy();
  const w0 = performance.now();
  const r = spawnSync(
    ...split(onCpu(1, ['bash', '-c', '"$@"; rc=$?; times >&2; exit $rc', 'load', ...argv])),
    {
      maxBuffer: 64 << 20,
      env: process.env,
    },
  );
  const wall = (performance.now() - w0) / 1000;
  const server = (sessionTicks(serverSid) - s0) / HZ;
  const upstream = (sessionTicks(upstreamSid) - u0) / HZ;
  const machine = (machineBusy() - m0) / HZ;
  const err = r.stderr.toString();
  const times = [...err.matchAll(/(\d+)m([\d.]+)s (\d+)m([\d.]+)s/g)].at(-1);
  const gen = times ? Number(times[1]) * 60 + Number(times[2]) + Number(times[3]) * 60 + Number(times[4]) : 0;
  return {
    out: r.stdout.toString(),
    err,
    status: r.status,
    wall,
    serverCpu: server,
    generatorCpu: gen,
    // What else ran meanwhile (other helpers, steal), as a share of one core.
    otherPct: Math.max(0, Math.round(((machine - server - upstream - gen) / wall) * 100)),
  };
}
const split = (argv) => [argv[0], argv.slice(1)];

// ---------------------------------------------------------------- the measurements
const abField = (out, label) => {
  const m = new RegExp(`^${label}:\\s+([\\d.]+)`, 'm').exec(out);
  return m ? Number(m[1]) : undefined;
};
const abPercentile = (out, p) => {
  const m = new RegExp(`^\\s+${p}%\\s+(\\d+)`, 'm').exec(out);
  return m ? Number(m[1]) : undefined;
};
function ab(ctx, keepAlive, concurrency) {
  const m = measure(ctx.sid, ctx.upstreamSid, [
    'ab',
    ...(keepAlive ? ['-k'] : []),
    '-q',
    '-c',
    String(concurrency),
    '-t',
    String(T),
    '-n',
    '50000000',
    '-E',
    join(pki, 'good.pem'),
    `https://127.0.0.1:${ctx.port}/`,
  ]);
  const done = abField(m.out, 'Complete requests') ?? 0;
  const failed = (abField(m.out, 'Failed requests') ?? 0) + (abField(m.out, 'Non-2xx responses') ?? 0);
  return {
    rps: Math.round(done / m.wall),
    perCoreS: m.serverCpu > 0 ? Math.round(done / m.serverCpu) : 0,
    serverCpuPct: Math.round((m.serverCpu / m.wall) * 100),
    generatorCpuPct: Math.round((m.generatorCpu / m.wall) * 100),
    p50: abPercentile(m.out, 50),
    p99: abPercentile(m.out, 99),
    errors: failed + (m.status === 0 ? 0 : 1),
    otherPct: m.otherPct,
  };
}
function stime(ctx, mode) {
  const m = measure(ctx.sid, ctx.upstreamSid, [
    'openssl',
    's_time',
    '-connect',
    `127.0.0.1:${ctx.port}`,
    `-${mode}`,
    '-tls1_3',
    '-www',
    '/',
    '-cert',
    join(pki, 'good.crt'),
    '-key',
    join(pki, 'good.key'),
    '-CAfile',
    join(pki, 'root.crt'),
    '-time',
    String(T),
  ]);
  // s_time prints whole seconds; the wall clock is ours. -reuse also counts its first full connection.
  const n = Number(
    /^(\d+) connections in [\d.]+s?/m.exec(m.out)?.[1] ?? /(\d+) connections in/.exec(m.out)?.[1] ?? 0,
  );
  return {
    rps: Math.round(n / m.wall),
    perCoreS: m.serverCpu > 0 ? Math.round(n / m.serverCpu) : 0,
    errors: m.status === 0 && n > 0 ? 0 : 1,
    otherPct: m.otherPct,
  };
}
function latency(ctx) {
  const m = measure(ctx.sid, ctx.upstreamSid, loadtestArgv(`https://127.0.0.1:${ctx.port}/`, true));
  return parseLoadtest(m);
}
function loadtestArgv(url, tls) {
  return [
    process.execPath,
    join(root, 'dist/cli/main.js'),
    'loadtest',
    url,
    ...(tls
      ? ['--cert', join(pki, 'good.crt'), '--key', join(pki, 'good.key'), '--cacert', join(pki, 'root.crt')]
      : []),
    '--connections',
    '20',
    '--rate',
    String(RATE),
    '--warmup',
    '3',
    '--duration',
    String(T),
    '--json',
  ];
}
function parseLoadtest(m) {
  try {
    const r = JSON.parse(m.out);
    // Open loop: below the offered rate the server (or the box) could not keep up, and the
    // percentiles are those of a growing queue (loadtest counts from when a request was due).
    if (r.requests_per_second < 0.9 * RATE)
      return { rps: Math.round(r.requests_per_second), errors: 0, otherPct: m.otherPct, note: 'overloaded' };
    return {
      rps: Math.round(r.requests_per_second),
      p50: r.latency_ms.p50,
      p99: r.latency_ms.p99,
      errors: Object.values(r.errors).reduce((a, b) => a + b, 0),
      otherPct: m.otherPct,
    };
  } catch {
    return { rps: 0, errors: 1, otherPct: m.otherPct, note: m.err.slice(-300) };
  }
}

/** Refusals and identity before any timing: a server that lets a wrong client in is not measured. */
function check(port) {
  const curl = (extra, path = '/check') =>
    spawnSync('curl', [
      '-s',
      '--max-time',
      '5',
      '-w',
      '\n%{http_code}',
      '--cacert',
      join(pki, 'root.crt'),
      ...extra,
      `https://127.0.0.1:${port}${path}`,
    ])
      .stdout.toString()
      .trim()
      .split('\n');
  const problems = [];
  const good = curl(['--cert', join(pki, 'good.pem'), '-H', 'X-Client-Subject: CN=evil']);
  if (good.at(-1) !== '200') problems.push(`good client got ${good.at(-1)}`);
  const body = good.slice(0, -1).join('\n');
  if (!body.includes('partner-a') || body.includes('evil')) problems.push(`upstream saw "${body}"`);
  for (const [what, extra] of [
    ['revoked', ['--cert', join(pki, 'revoked.pem')]],
    ['no certificate', []],
  ]) {
    const code = curl(extra).at(-1);
    if (code.startsWith('2')) problems.push(`${what} client got ${code}`);
  }
  return problems;
}

// ---------------------------------------------------------------- one server, one sample
const UPSTREAM_PORT = 18280;
async function startServer(server, sample, port, logLevel, upstreamSid) {
  const dir = join(work, `${server.name}-${sample}-${logLevel}`);
  mkdirSync(dir, { recursive: true });
  const { argv, env } = server.start({ root, pki, dir, port, upstream: UPSTREAM_PORT, logLevel });
  const child = launch(argv, env, 0, join(dir, 'output.log'));
  if (!(await waitPort(port, child))) {
    await stop(child);
    throw new Error(
      `${server.name} did not listen on ${port}: ${readFileSync(join(dir, 'output.log'), 'utf8').slice(-500)}`,
    );
  }
  await sleep(300);
  return { child, ctx: { sid: child.pid, upstreamSid, port } };
}

async function benchServer(server, sample, port, upstreamSid) {
  const result = { server: server.name, sample };
  let first;
  try {
    first = await startServer(server, sample, port, opt['gateway-log-level'], upstreamSid);
  } catch (err) {
    log(err.message);
    result.problems = ['did not start'];
    return result;
  }
  const { child, ctx } = first;
  try {
    const problems = check(port);
    result.problems = problems;
    if (problems.length > 0) {
      log(`${server.name}: NOT MEASURED: ${problems.join('; ')}`);
      return result;
    }
    result.idle = sessionMemory(ctx.sid);
    // Warm-up (JIT, pools, session caches), not recorded.
    measure(ctx.sid, upstreamSid, [
      'ab',
      '-q',
      '-k',
      '-c',
      '20',
      '-t',
      '2',
      '-n',
      '5000000',
      '-E',
      join(pki, 'good.pem'),
      `https://127.0.0.1:${port}/`,
    ]);
    if (phases.has('ka')) result.ka = ab(ctx, true, 50);
    if (phases.has('full')) result.full = ab(ctx, false, 20);
    if (phases.has('stime')) {
      result.stimeNew = stime(ctx, 'new');
      result.stimeReuse = stime(ctx, 'reuse');
    }
    result.loaded = sessionMemory(ctx.sid);
  } finally {
    await stop(child);
  }
  if (phases.has('latency')) {
    const again = await startServer(server, sample, port, 'info', upstreamSid).catch((err) =>
      log(err.message),
    );
    if (again) {
      try {
        result.latency = latency(again.ctx);
      } finally {
        await stop(again.child);
      }
    }
  }
  log(`${server.name} #${sample}: ${JSON.stringify(result)}`);
  return result;
}

// ---------------------------------------------------------------- main
log(`PKI with ${opt['crl-entries']} intermediate CRL entries in ${pki}`);
const pkiRun = spawnSync(join(import.meta.dirname, 'pki.sh'), [pki, opt['crl-entries']], {
  stdio: 'inherit',
});
if (pkiRun.status !== 0) process.exit(1);
const upstream = launch(upstreamCommand(work, UPSTREAM_PORT), {}, 1, join(work, 'upstream.log'));
if (!(await waitPort(UPSTREAM_PORT, upstream))) throw new Error('the upstream did not start');
const load = readFileSync('/proc/loadavg', 'latin1').split(' ').slice(0, 3).join(' ');
log(
  `upstream on ${UPSTREAM_PORT}; load average ${load}; servers: ${measured.map((s) => s.name).join(', ')}${skipped.length ? ` (not installed: ${skipped.join(', ')})` : ''}`,
);

const results = [];
const direct = [];
for (let sample = 1; sample <= SAMPLES; sample++) {
  if (phases.has('latency')) {
    const m = measure(upstream.pid, upstream.pid, loadtestArgv(`http://127.0.0.1:${UPSTREAM_PORT}/`, false));
    direct.push(parseLoadtest(m));
  }
  // A different order each sample, so no server is always the one after a given other.
  const order = measured.map((_, i) => measured[(i + sample - 1) % measured.length]);
  for (const server of order) {
    results.push(await benchServer(server, sample, 18300 + ALL.indexOf(server), upstream.pid));
  }
}
const loadAfter = readFileSync('/proc/loadavg', 'latin1').split(' ').slice(0, 3).join(' ');
await stop(upstream);

// ---------------------------------------------------------------- report
const median = (xs) => {
  const v = xs.filter((x) => typeof x === 'number' && Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return undefined;
  return v.length % 2 ? v[(v.length - 1) / 2] : (v[v.length / 2 - 1] + v[v.length / 2]) / 2;
};
const pick = (name, path) =>
  results.filter((r) => r.server === name).map((r) => path.split('.').reduce((o, k) => o?.[k], r));
const fmt = (x, digits = 0) => (x === undefined ? '–' : x.toFixed(digits));
const COLUMNS = [
  ['keep-alive req/s', 'ka.rps'],
  ['keep-alive req per core-s', 'ka.perCoreS'],
  ['server CPU %', 'ka.serverCpuPct'],
  ['ab p50/p99 ms', 'ka.p50', 'ka.p99'],
  ['full-handshake req/s (ab -c 20)', 'full.rps'],
  ['full-handshake req per core-s', 'full.perCoreS'],
  ['s_time full per core-s', 'stimeNew.perCoreS'],
  ['s_time resumed per core-s', 'stimeReuse.perCoreS'],
  ['resumed/full', 'resumedRatio'],
  [`p50/p99 ms at ${RATE} req/s`, 'latency.p50', 'latency.p99'],
  ['RSS idle / after load MB', 'idle.rssMb', 'loaded.rssMb'],
];
for (const r of results) {
  if (r.stimeNew?.perCoreS && r.stimeReuse?.perCoreS)
    r.resumedRatio = r.stimeReuse.perCoreS / r.stimeNew.perCoreS;
}
const cell = (name, col) => {
  const [, a, b] = col;
  const digits = a === 'resumedRatio' ? 2 : a.startsWith('latency') ? 2 : 0;
  return b === undefined
    ? fmt(median(pick(name, a)), digits)
    : `${fmt(median(pick(name, a)), digits)} / ${fmt(median(pick(name, b)), digits)}`;
};
const lines = [];
lines.push(
  `\n## bench/peers: ${SAMPLES} sample(s) of ${T} s, intermediate CRL ${opt['crl-entries']} entries, servers on CPU ${pin ? '0' : 'any'}, upstream and generators on CPU ${pin ? '1' : 'any'}`,
);
lines.push(`load average before ${load}, after ${loadAfter}; medians over the samples\n`);
lines.push(`| server | ${COLUMNS.map((c) => c[0]).join(' | ')} |`);
lines.push(`| --- | ${COLUMNS.map(() => '---').join(' | ')} |`);
if (direct.length) {
  lines.push(
    `| upstream direct (http) | ${COLUMNS.map((c) => (c[1] === 'latency.p50' ? `${fmt(median(direct.map((d) => d.p50)), 2)} / ${fmt(median(direct.map((d) => d.p99)), 2)}` : '')).join(' | ')} |`,
  );
}
for (const s of measured) lines.push(`| ${s.name} | ${COLUMNS.map((c) => cell(s.name, c)).join(' | ')} |`);
const ratio = (other, path) => {
  const g = median(pick('gateway', path));
  const o = median(pick(other, path));
  return g && o ? `${(g / o).toFixed(2)}×` : '–';
};
const p99Added = (other) => {
  const g = median(pick('gateway', 'latency.p99'));
  const o = median(pick(other, 'latency.p99'));
  return g !== undefined && o !== undefined ? `${(g - o).toFixed(2)} ms` : '–';
};
for (const other of ['baseline', 'floor', 'nginx', 'haproxy']) {
  if (!measured.some((s) => s.name === other) || !measured.some((s) => s.name === 'gateway')) continue;
  lines.push(
    `\ngateway/${other}: keep-alive per core-s ${ratio(other, 'ka.perCoreS')}, full handshakes per core-s ${ratio(other, 'full.perCoreS')}, s_time full per core-s ${ratio(other, 'stimeNew.perCoreS')}, resumed/full ${ratio(other, 'resumedRatio')}, p99 at ${RATE} req/s ${p99Added(other)} over ${other}, RSS after load ${ratio(other, 'loaded.rssMb')}`,
  );
}
lines.push(
  '\nevery sample (other % = CPU used meanwhile by anything but server, upstream and generator, max over phases):\n',
);
lines.push(
  '| server | # | ka req/s | ka per core-s | full req/s | full per core-s | s_time full/resumed per core-s | p50/p99 ms | other % | errors |',
);
lines.push('| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |');
for (const r of results) {
  const ph = [r.ka, r.full, r.stimeNew, r.stimeReuse, r.latency].filter(Boolean);
  const errors = ph.reduce((a, p) => a + (p.errors ?? 0), 0);
  const lat = r.latency?.note
    ? `${r.latency.note} (${r.latency.rps} req/s)`
    : `${fmt(r.latency?.p50, 2)} / ${fmt(r.latency?.p99, 2)}`;
  lines.push(
    `| ${r.server} | ${r.sample} | ${fmt(r.ka?.rps)} | ${fmt(r.ka?.perCoreS)} | ${fmt(r.full?.rps)} | ${fmt(r.full?.perCoreS)} | ${fmt(r.stimeNew?.perCoreS)} / ${fmt(r.stimeReuse?.perCoreS)} | ${lat} | ${Math.max(0, ...ph.map((p) => p.otherPct ?? 0))} | ${r.problems?.length ? r.problems.join('; ') : errors} |`,
  );
}
lines.push(
  `\ncommands: ab -k -c 50 -t ${T} -E good.pem (keep-alive); ab -c 20 -t ${T} -E good.pem (full handshakes); openssl s_time -new|-reuse -tls1_3 -www / -time ${T}; mtls-gateway loadtest --connections 20 --rate ${RATE} --warmup 3 --duration ${T} --json; gateway log level ${opt['gateway-log-level']} (info in the latency phase)`,
);
if (skipped.length)
  lines.push(`not installed, not measured: ${skipped.join(', ')} (apt-get install ${skipped.join(' ')})`);
console.log(lines.join('\n'));
if (opt.json) writeFileSync(opt.json, JSON.stringify({ load, loadAfter, direct, results }, null, 2));
if (results.some((r) => r.problems?.length)) process.exitCode = 1;
