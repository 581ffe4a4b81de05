/**
 * Container smoke test: the image `npm run image:build` built, run as the runtime runs it (see
 * container.ts: its ENTRYPOINT + CMD, ENV, WorkingDir and USER 1000 from `podman image inspect`, a
 * read-only root with a writable /tmp), with the task definition's environment from
 * cloudformation/gateway.yaml on top. Trust material is a fresh non-development PKI per run, served
 * by the local Secrets Manager server as in AWS (the CRL, an s3:// source there, is a file bound
 * read-only into the container here).
 *
 * It skips only where podman is not installed (it says so). Under CI=true (.ci/run installs podman
 * and builds the image first) it never skips: a missing engine or image fails the run. Elsewhere a
 * missing image fails too, naming the command that builds it.
 */
import { type ChildProcess, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createNetServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EKU_SERVER_AUTH, type Issued, issue, makeCrl } from '../../src/dev/pki.js';
import { curl, type LogLine } from '../helpers/gateway.js';
import { makeTestPki, type TestPki } from '../helpers/pki.js';
import { SecretsManagerServer } from '../helpers/secrets-manager-server.js';
import { evaluate, type JsonObject, parseTemplate } from './cfn.js';
import { ContainerRoot, IMAGE, type ImageConfig, imageUnavailable, inspectImage } from './container.js';
import { GATEWAY_SAMPLE_PARAMETERS, NETWORK_IMPORTS } from './fixtures.js';

const root = join(import.meta.dirname, '../..');
const unavailable = imageUnavailable();
const inCi = process.env.CI === 'true';
const skip = unavailable?.noEngine === true && !inCi;
if (skip) process.stderr.write(`container smoke test skipped: ${unavailable.reason}\n`);

/** A free loopback port (the task's fixed 8443/9090 would collide with `npm start` on this host). */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createNetServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

/** The upstream: answers with the headers it got; holds `/hold` requests until released. */
class Upstream {
  readonly seen: { path: string; headers: IncomingMessage['headers'] }[] = [];
  private readonly held: ServerResponse[] = [];
  private heldWaiter: (() => void) | undefined;
  private constructor(
    readonly server: Server,
    readonly port: number,
  ) {}

  static async start(): Promise<Upstream> {
    let self: Upstream | undefined;
    const server = createServer((req, res) => self!.handle(req, res));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    self = new Upstream(server, (server.address() as { port: number }).port);
    return self;
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    this.seen.push({ path: req.url ?? '', headers: req.headers });
    if (req.url?.startsWith('/hold')) {
      this.held.push(res);
      this.heldWaiter?.();
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ path: req.url, subject: req.headers['x-client-subject'] }));
  }

  /** Resolves once a request is being held. */
  holding(): Promise<void> {
    return this.held.length > 0 ? Promise.resolve() : new Promise((r) => (this.heldWaiter = r));
  }

  release(): void {
    for (const res of this.held.splice(0)) res.end('released');
  }

  close(): Promise<void> {
    this.release();
    this.server.closeAllConnections();
    return new Promise((r) => this.server.close(() => r()));
  }
}

/** One gateway started from the image; its JSON log lines parsed as they arrive. */
interface Running {
  readonly child: ChildProcess;
  readonly lines: LogLine[];
  readonly stderr: string[];
  readonly exited: Promise<number | null>;
  waitLog(match: (l: LogLine) => boolean): Promise<LogLine>;
}

function watch(child: ChildProcess): Running {
  const lines: LogLine[] = [];
  const stderr: string[] = [];
  const waiters: { match: (l: LogLine) => boolean; resolve: (l: LogLine) => void }[] = [];
  createInterface({ input: child.stdout! }).on('line', (text) => {
    let line: LogLine;
    try {
      line = JSON.parse(text) as LogLine;
    } catch {
      line = { msg: text };
    }
    lines.push(line);
    for (const w of waiters.splice(0)) (w.match(line) ? w.resolve : () => waiters.push(w))(line);
  });
  createInterface({ input: child.stderr! }).on('line', (text) => stderr.push(text));
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  const waitLog = (match: (l: LogLine) => boolean): Promise<LogLine> => {
    const found = lines.find(match);
    return found ? Promise.resolve(found) : new Promise((r) => waiters.push({ match, resolve: r }));
  };
  return { child, lines, stderr, exited, waitLog };
}

async function waitReady(adminPort: number, running: Running): Promise<void> {
  for (;;) {
    if (running.child.exitCode !== null)
      throw new Error(`gateway exited ${running.child.exitCode}: ${running.stderr.join('\n')}`);
    const ready = await request(`http://127.0.0.1:${adminPort}/readyz`).then(
      async (r) => {
        await r.body.text();
        return r.statusCode;
      },
      () => 0,
    );
    if (ready === 200) return;
    await new Promise((r) => setTimeout(r, 100)); // polled as the NLB health check polls
  }
}

/** Resolves with the exit code, or with 'still running' once `seconds` have passed. */
function exitWithin(running: Running, seconds: number): Promise<number | null | 'still running'> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    running.exited,
    new Promise<'still running'>((r) => {
      timer = setTimeout(() => r('still running'), seconds * 1000);
    }),
  ]).finally(() => clearTimeout(timer));
}

describe.skipIf(skip)(`the container image ${IMAGE}, run as the runtime runs it`, () => {
  let config: ImageConfig;
  let container: ContainerRoot;
  let work: string;
  let secrets: SecretsManagerServer;
  let upstream: Upstream;
  let devPki: TestPki;
  let rootCa: Issued;
  let taskEnv: Record<string, string>;
  const started: Running[] = [];

  /** The image's ENV, then the task definition's, then this run's ports and sources. */
  const envFor = (ports: { tls: number; admin: number }, extra: Record<string, string> = {}) => ({
    ...config.env,
    HOME: '/home/node',
    ...taskEnv,
    ...secrets.env(),
    GATEWAY_LISTEN: `127.0.0.1:${ports.tls}`,
    GATEWAY_ADMIN_LISTEN: `127.0.0.1:${ports.admin}`,
    GATEWAY_CRLS: '/mnt/crl.pem',
    GATEWAY_UPSTREAM: `http://127.0.0.1:${upstream.port}`,
    // No NLB in front here, so no PROXY protocol header: clients connect directly.
    GATEWAY_PROXY_PROTOCOL: 'off',
    ...extra,
  });

  const startGateway = async (extra: Record<string, string> = {}) => {
    const ports = { tls: await freePort(), admin: await freePort() };
    const env = envFor(ports, extra);
    const t0 = Date.now();
    const running = watch(container.spawn(config, [...config.entrypoint, ...config.cmd], env));
    started.push(running);
    return { running, ports, env, t0 };
  };

  const healthcheck = (env: Record<string, string>): Promise<number | null> => {
    const [kind, ...argv] = config.healthcheck;
    expect(kind).toBe('CMD');
    const child = container.spawn(config, argv, env);
    child.stdout?.resume();
    child.stderr?.resume();
    return new Promise((r) => child.once('exit', (code) => r(code)));
  };

  const curlAs = (port: number, name: 'partner-a' | 'revoked', path = '/receipts/1') =>
    curl([
      '--cacert',
      join(work, 'root-ca.pem'),
      '--cert',
      join(work, `${name}.pem`),
      '--key',
      join(work, `${name}-key.pem`),
      '--resolve',
      `localhost:${port}:127.0.0.1`,
      '-w',
      '\n%{http_code}',
      `https://localhost:${port}${path}`,
    ]);

  beforeAll(async () => {
    if (unavailable) throw new Error(`container smoke test cannot run: ${unavailable.reason}`);
    config = inspectImage();
    work = await mkdtemp(join(tmpdir(), 'mtls-gw-smoke-'));

    // A non-development PKI (production refuses the development root), minted for this run.
    rootCa = await issue(undefined, { subject: 'O=Smoke Test Trust, CN=smoke root CA', ca: true });
    const server = await issue(rootCa, {
      subject: 'O=Smoke Test Trust, CN=localhost',
      eku: [EKU_SERVER_AUTH],
      dns: ['localhost'],
      ips: ['127.0.0.1'],
    });
    const partner = await issue(rootCa, { subject: 'O=Partner A, CN=partner-a' });
    const revoked = await issue(rootCa, { subject: 'O=Partner R, CN=revoked' });
    await writeFile(join(work, 'root-ca.pem'), rootCa.certPem);
    for (const [name, c] of [
      ['partner-a', partner],
      ['revoked', revoked],
    ] as const) {
      await writeFile(join(work, `${name}.pem`), c.certPem);
      await writeFile(join(work, `${name}-key.pem`), c.keyPem);
    }
    await writeFile(
      join(work, 'crl.pem'),
      await makeCrl(rootCa, { revoked: [{ serialHex: revoked.serialHex }] }),
    );
    // The development PKI (O=mtls-gateway development), for the refusal check.
    devPki = await makeTestPki();

    secrets = await SecretsManagerServer.start();
    const arn = async (name: string, value: string): Promise<string> => {
      secrets.put(name, value);
      const res = await request(secrets.url, {
        method: 'POST',
        headers: {
          'x-amz-target': 'secretsmanager.DescribeSecret',
          'content-type': 'application/x-amz-json-1.1',
        },
        body: JSON.stringify({ SecretId: name }),
      });
      return ((await res.body.json()) as { ARN: string }).ARN;
    };
    upstream = await Upstream.start();

    // The task definition's environment, with these secrets as its parameters.
    const template = parseTemplate(join(root, 'cloudformation/gateway.yaml'));
    const parameters = {
      ...GATEWAY_SAMPLE_PARAMETERS,
      ServerCertSecretArn: await arn('gw/server-cert', server.certPem),
      ServerKeySecretArn: await arn('gw/server-key', server.keyPem),
      CaBundleSecretArn: await arn('gw/ca-bundle', rootCa.certPem),
    };
    const definition = (
      evaluate(template, (template.Resources.TaskDefinition!.Properties as JsonObject).ContainerDefinitions, {
        parameters,
        imports: NETWORK_IMPORTS,
      }) as { Environment: { Name: string; Value: string }[] }[]
    )[0]!;
    taskEnv = Object.fromEntries(definition.Environment.map((e) => [e.Name, e.Value]));
    expect(taskEnv.GATEWAY_CA_BUNDLE).toBe(`secretsmanager:${parameters.CaBundleSecretArn}`);

    // The container's user (uid 1000) reads these folders, as it reads a mounted volume.
    await chmod(work, 0o755);
    await chmod(devPki.dir, 0o755);
    container = ContainerRoot.open(IMAGE, { [work]: '/mnt', [devPki.dir]: '/srv' });
  }, 60_000);

  afterAll(async () => {
    for (const r of started) if (r.child.exitCode === null) r.child.kill('SIGKILL');
    await Promise.all(started.map((r) => r.exited));
    container?.close();
    await upstream?.close();
    await secrets?.close();
    await devPki?.cleanup();
    if (work) await rm(work, { recursive: true, force: true });
  });

  it('is the image the Dockerfile describes: node entrypoint, serve, uid 1000, production, OCI labels', () => {
    expect(config.entrypoint).toEqual(['node', 'dist/cli/main.js']);
    expect(config.cmd).toEqual(['serve']);
    expect(config.user.split(':')[0]).toBe('1000');
    expect(config.env.NODE_ENV).toBe('production');
    expect(config.stopSignal).toBe('SIGTERM');
    expect(config.healthcheck).toEqual(['CMD', 'node', 'dist/cli/main.js', 'healthcheck']);
    for (const label of ['source', 'revision', 'version'])
      expect(config.labels[`org.opencontainers.image.${label}`], label).toMatch(/\S/);
    const head = spawnSync('git', ['rev-parse', 'HEAD'], { cwd: root, encoding: 'utf8' }).stdout.trim();
    process.stderr.write(
      `container smoke: ${IMAGE} ${(config.size / 1e6).toFixed(0)} MB, revision ` +
        `${config.labels['org.opencontainers.image.revision']} (work tree at ${head}; npm run image:build rebuilds)\n`,
    );
  });

  it('serves partners: ready, 200 for a good client, refuses a revoked one; healthcheck 0, then non-zero once stopped; SIGTERM drains in time', async () => {
    const drainSeconds = 3;
    const { running, ports, env, t0 } = await startGateway({ GATEWAY_DRAIN_SECONDS: String(drainSeconds) });
    await waitReady(ports.admin, running);
    process.stderr.write(`container smoke: start to ready ${Date.now() - t0} ms\n`);
    // The worker count follows the container's CPU quota, and the log says why.
    const workers = await running.waitLog((l) => typeof l.workers_reason === 'string');
    process.stderr.write(`container smoke: ${workers.workers} workers: ${workers.workers_reason}\n`);
    // The process runs as the image's user (real, effective, saved and filesystem uid).
    const uids = /^Uid:\s+(.*)$/m.exec(readFileSync(`/proc/${running.child.pid}/status`, 'utf8'))?.[1];
    expect(uids?.split(/\s+/)).toEqual(['1000', '1000', '1000', '1000']);

    const good = await curlAs(ports.tls, 'partner-a');
    expect(good.stdout.split('\n').at(-1), good.stderr).toBe('200');
    expect(JSON.parse(good.stdout.split('\n')[0]!)).toEqual({
      path: '/receipts/1',
      subject: 'CN=partner-a,O=Partner A',
    });

    // Strict mode's one readable answer to a refused client, then the connection closes.
    const bad = await curlAs(ports.tls, 'revoked');
    expect(bad.stdout.split('\n').at(-1), bad.stderr).toBe('403');
    expect(JSON.parse(bad.stdout.split('\n')[0]!)).toMatchObject({ error: 'revoked' });
    await running.waitLog((l) => l.reason === 'revoked');
    expect(upstream.seen.filter((s) => s.headers['x-client-subject']?.includes('revoked'))).toEqual([]);

    expect(await healthcheck(env)).toBe(0);

    // SIGTERM with a request in flight: it finishes, then the process exits 0.
    const inFlight = curlAs(ports.tls, 'partner-a', '/hold/1');
    await upstream.holding();
    running.child.kill(config.stopSignal as NodeJS.Signals);
    await running.waitLog((l) => l.msg === 'draining');
    upstream.release();
    expect((await inFlight).stdout.split('\n').at(-1)).toBe('200');
    expect(await exitWithin(running, drainSeconds + 5)).toBe(0);
    expect(running.lines.some((l) => l.msg === 'stopped' && l.clean === true)).toBe(true);

    expect(await healthcheck(env)).not.toBe(0);
  }, 60_000);

  it('on SIGTERM with a request that never finishes, exits within GATEWAY_DRAIN_SECONDS (not clean)', async () => {
    const drainSeconds = 2;
    const { running, ports } = await startGateway({
      GATEWAY_DRAIN_SECONDS: String(drainSeconds),
      GATEWAY_WORKERS: '1',
    });
    await waitReady(ports.admin, running);
    const stuck = curlAs(ports.tls, 'partner-a', '/hold/stuck');
    await upstream.holding();
    running.child.kill('SIGTERM');
    expect(await exitWithin(running, drainSeconds + 5)).toBe(1);
    expect(running.lines.some((l) => l.msg === 'stopped' && l.clean === false)).toBe(true);
    await stuck;
    upstream.release();
  }, 30_000);

  it('refuses the development CA in production, naming it, and never becomes ready', async () => {
    const { running, ports } = await startGateway({
      GATEWAY_SERVER_CERT: '/srv/server.pem',
      GATEWAY_SERVER_KEY: '/srv/server-key.pem',
      GATEWAY_CA_BUNDLE: '/srv/ca-bundle.pem',
      GATEWAY_CRLS: '/srv/crl.pem',
    });
    const refused = await Promise.race([
      running.waitLog((l) => JSON.stringify(l).includes('development CA refused in production')),
      running.exited.then(
        () => `exited first: ${JSON.stringify(running.lines.slice(-5))} ${running.stderr.join('\n')}`,
      ),
    ]);
    expect(JSON.stringify(refused)).toContain('development CA refused in production');
    const ready = await request(`http://127.0.0.1:${ports.admin}/readyz`).then(
      (r) => r.statusCode,
      () => 0,
    );
    expect(ready).not.toBe(200);
  }, 30_000);
});
