/**
 * Container smoke test without Docker: the build context (tracked and new files, less
 * .dockerignore) is copied to a clean folder, the Dockerfile's WORKDIR/ENV/COPY/RUN steps are replayed
 * stage by stage as commands (parsed from the Dockerfile, so this follows it), and the image's
 * ENTRYPOINT + CMD is started from the runtime stage alone with the image's ENV plus the
 * environment the task definition sets. Trust material is a freshly minted non-development PKI in
 * the local Secrets Manager server (the CRL, an s3:// source in AWS, is a file here). Then /readyz
 * must answer 200 and a partner's request must reach the upstream with identity headers.
 *
 * The build runs `npm ci` in the copy (from the npm cache, preferring it), which takes tens of
 * seconds: it runs in CI (CI=true) and on demand with MTLS_GATEWAY_SMOKE=1.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { cp, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, posix } from 'node:path';
import { createInterface } from 'node:readline';
import { Agent, request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type EchoUpstream, startEchoUpstream } from '../../src/dev/echo-upstream.js';
import { EKU_SERVER_AUTH, issue, makeCrl } from '../../src/dev/pki.js';
import { SecretsManagerServer } from '../helpers/secrets-manager-server.js';
import { evaluate, type JsonObject, parseTemplate } from './cfn.js';
import { readDockerfile } from './dockerfile.js';
import { GATEWAY_SAMPLE_PARAMETERS, NETWORK_IMPORTS } from './fixtures.js';

const root = join(import.meta.dirname, '../..');
const enabled = process.env.CI === 'true' || process.env.MTLS_GATEWAY_SMOKE === '1';

/** .dockerignore patterns as Docker reads them (Go filepath.Match plus `**`; a match excludes a folder's contents). */
export function dockerIgnoreMatcher(text: string): (path: string) => boolean {
  const rules = text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'))
    .map((l) => {
      const negate = l.startsWith('!');
      const pattern = posix.normalize((negate ? l.slice(1) : l).replace(/^\/+/, ''));
      const source = pattern
        .split('/')
        .map((part) =>
          part === '**'
            ? '.*'
            : part
                .replace(/[.+^${}()|[\]\\]/g, '\\$&')
                .replace(/\*/g, '[^/]*')
                .replace(/\?/g, '[^/]'),
        )
        .join('/');
      return { negate, re: new RegExp(`^${source}(/.*)?$`) };
    });
  return (path) => {
    let excluded = false;
    for (const r of rules) if (r.re.test(path)) excluded = !r.negate;
    return excluded;
  };
}

function run(command: string, cwd: string, env: NodeJS.ProcessEnv): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn('sh', ['-c', command], { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (d: Buffer) => {
      output += d.toString();
    });
    child.stderr.on('data', (d: Buffer) => {
      output += d.toString();
    });
    child.on('error', reject);
    child.on('close', (code) =>
      code === 0 ? resolve() : reject(new Error(`RUN ${command} exited ${code}\n${output.slice(-4000)}`)),
    );
  });
}

describe.runIf(enabled)('container smoke test (Dockerfile steps replayed, production command)', () => {
  let work: string;
  let secrets: SecretsManagerServer;
  let upstream: EchoUpstream;
  let gateway: ChildProcess | undefined;
  let gatewayExit: Promise<number | null>;
  let tlsPort: number;
  let adminPort: number;
  let clientAgent: Agent;
  const logs: Record<string, unknown>[] = [];

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'mtls-gw-image-'));
    const docker = readDockerfile(join(root, 'Dockerfile'));

    // 1. The build context: what a clone holds (tracked + new, not ignored), less .dockerignore.
    const ignored = dockerIgnoreMatcher(readFileSync(join(root, '.dockerignore'), 'utf8'));
    const files = execFileSync('git', ['ls-files', '-co', '--exclude-standard', '-z'], {
      cwd: root,
      encoding: 'utf8',
    })
      .split('\0')
      .filter((f) => f && !ignored(f));
    const context = join(work, 'context');
    for (const f of files) {
      await mkdir(dirname(join(context, f)), { recursive: true });
      await cp(join(root, f), join(context, f)).catch((err: NodeJS.ErrnoException) => {
        if (err.code !== 'ENOENT') throw err; // deleted in the work tree, not yet in git
      });
    }

    // 2. Each stage is a folder standing for its filesystem; steps run in order.
    const stageRoot = (name: string): string => join(work, 'stages', name);
    for (const stage of docker.stages) {
      const fsRoot = stageRoot(stage.name);
      let cwd = fsRoot;
      const env: Record<string, string> = {};
      const inStage = (p: string): string =>
        join(fsRoot, posix.isAbsolute(p) ? p : posix.join(cwd.slice(fsRoot.length) || '/', p));
      for (const step of stage.steps) {
        if (step.kind === 'workdir') {
          cwd = inStage(step.path);
          await mkdir(cwd, { recursive: true });
        } else if (step.kind === 'env') {
          Object.assign(env, step.vars);
        } else if (step.kind === 'copy') {
          const from = step.from ? stageRoot(step.from) : context;
          const toDir = step.dest.endsWith('/') || step.sources.length > 1;
          for (const source of step.sources) {
            const src = step.from ? join(from, source) : join(context, source);
            const dest = toDir ? join(inStage(step.dest), posix.basename(source)) : inStage(step.dest);
            await mkdir(dirname(dest), { recursive: true });
            await cp(src, dest, { recursive: true, verbatimSymlinks: true });
          }
        } else {
          await run(step.command, cwd, {
            ...process.env,
            ...env,
            npm_config_prefer_offline: 'true',
            npm_config_update_notifier: 'false',
          });
        }
      }
    }

    // 3. A non-development PKI (production refuses the dev root), in Secrets Manager.
    const rootCa = await issue(undefined, { subject: 'O=Smoke Test Trust, CN=smoke root CA', ca: true });
    const server = await issue(rootCa, {
      subject: 'O=Smoke Test Trust, CN=localhost',
      eku: [EKU_SERVER_AUTH],
      dns: ['localhost'],
      ips: ['127.0.0.1'],
    });
    const partner = await issue(rootCa, { subject: 'O=Partner A, CN=partner-a' });
    const pkiDir = join(work, 'pki');
    await mkdir(pkiDir);
    await writeFile(join(pkiDir, 'crl.pem'), await makeCrl(rootCa));
    secrets = await SecretsManagerServer.start();
    // The ARN as the service reports it (DescribeSecret over the wire protocol).
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
    upstream = await startEchoUpstream('127.0.0.1', 0);

    // 4. The task definition's environment, with these secrets as its parameters.
    const template = parseTemplate(join(root, 'cloudformation/gateway.yaml'));
    const parameters = {
      ...GATEWAY_SAMPLE_PARAMETERS,
      ServerCertSecretArn: await arn('gw/server-cert', server.certPem),
      ServerKeySecretArn: await arn('gw/server-key', server.keyPem),
      CaBundleSecretArn: await arn('gw/ca-bundle', rootCa.certPem),
    };
    for (const [name, value] of Object.entries(parameters)) {
      const pattern = template.Parameters?.[name]?.AllowedPattern;
      if (typeof pattern === 'string') expect(value, name).toMatch(new RegExp(`^(?:${pattern})$`));
    }
    const container = (
      evaluate(template, (template.Resources.TaskDefinition!.Properties as JsonObject).ContainerDefinitions, {
        parameters,
        imports: NETWORK_IMPORTS,
      }) as { Environment: { Name: string; Value: string }[] }[]
    )[0]!;
    const taskEnv = Object.fromEntries(container.Environment.map((e) => [e.Name, e.Value]));
    expect(taskEnv.GATEWAY_CA_BUNDLE).toBe(`secretsmanager:${parameters.CaBundleSecretArn}`);

    // 5. Start ENTRYPOINT + CMD in the runtime stage: nothing from the build stage or the repo.
    const [exe, ...args] = [...docker.entrypoint!, ...docker.cmd!];
    expect(exe).toBe('node');
    const appDir = join(stageRoot(docker.runtime.name), '/app');
    gateway = spawn(process.execPath, args, {
      cwd: appDir,
      stdio: ['ignore', 'pipe', 'inherit'],
      env: {
        PATH: process.env.PATH,
        HOME: join(work, 'home'),
        ...docker.env,
        ...taskEnv,
        ...secrets.env(),
        // Loopback and ephemeral ports here instead of the task's 0.0.0.0:8443/9090.
        GATEWAY_LISTEN: '127.0.0.1:0',
        GATEWAY_ADMIN_LISTEN: '127.0.0.1:0',
        GATEWAY_CRLS: join(pkiDir, 'crl.pem'),
        GATEWAY_UPSTREAM: `http://127.0.0.1:${upstream.port}`,
      },
    });
    gatewayExit = new Promise((resolve) => gateway!.on('exit', (code) => resolve(code)));
    const ports = new Promise<void>((resolve, reject) => {
      gateway!.on('exit', (code) =>
        reject(new Error(`gateway exited ${code}: ${JSON.stringify(logs.slice(-5))}`)),
      );
      createInterface({ input: gateway!.stdout! }).on('line', (line) => {
        const entry = JSON.parse(line) as Record<string, unknown>;
        logs.push(entry);
        const port = (entry.address as { port?: number } | undefined)?.port;
        if (entry.msg === 'admin listening' && port) adminPort = port;
        if (entry.msg === 'TLS listening' && port) tlsPort = port;
        if (adminPort && tlsPort) resolve();
      });
    });
    await ports;
    clientAgent = new Agent({
      connect: { ca: rootCa.certPem, cert: partner.certPem, key: partner.keyPem, servername: 'localhost' },
    });
  }, 240_000);

  afterAll(async () => {
    await clientAgent?.close();
    if (gateway && gateway.exitCode === null) {
      gateway.kill('SIGTERM');
      await gatewayExit;
    }
    await upstream?.close();
    await secrets?.close();
    if (work) await rm(work, { recursive: true, force: true });
  });

  it('ships no sources, tests or development PKI: only package.json, node_modules and dist', async () => {
    const app = join(work, 'stages', readDockerfile(join(root, 'Dockerfile')).runtime.name, 'app');
    expect(readdirSync(app).sort()).toEqual(['dist', 'node_modules', 'package.json']);
    expect(readdirSync(join(app, 'node_modules'))).not.toContain('vitest');
  });

  it('becomes ready with trust material from Secrets Manager, and answers the health check command', async () => {
    // As the NLB health check does: poll until every worker (one per CPU in production) is ready.
    let status = 0;
    let text = '';
    for (let i = 0; i < 200 && status !== 200; i++) {
      if (i > 0) await new Promise((r) => setTimeout(r, 50));
      const ready = await request(`http://127.0.0.1:${adminPort}/readyz`);
      status = ready.statusCode;
      text = await ready.body.text();
    }
    expect(status, text).toBe(200);
    const app = join(work, 'stages', readDockerfile(join(root, 'Dockerfile')).runtime.name, 'app');
    const docker = readDockerfile(join(root, 'Dockerfile'));
    const [exe, ...args] = docker.healthcheck!.command;
    expect(exe).toBe('node');
    const healthy = spawn(process.execPath, args, {
      cwd: app,
      env: { PATH: process.env.PATH, GATEWAY_ADMIN_LISTEN: `127.0.0.1:${adminPort}` },
    });
    expect(await new Promise((r) => healthy.on('exit', r))).toBe(0);
    const down = spawn(process.execPath, args, {
      cwd: app,
      env: { PATH: process.env.PATH, GATEWAY_ADMIN_LISTEN: '127.0.0.1:1' },
    });
    expect(await new Promise((r) => down.on('exit', r))).toBe(1);
  });

  it("forwards a partner's request to the upstream with its identity", async () => {
    const res = await request(`https://localhost:${tlsPort}/receipts/1`, { dispatcher: clientAgent });
    expect(res.statusCode).toBe(200);
    await res.body.text();
    const seen = upstream.seen.at(-1)!;
    expect(seen.headers['x-client-subject']).toBe('CN=partner-a,O=Partner A');
    expect(seen.headers['x-client-verify']).toBe('SUCCESS');
  });

  it('drains and exits 0 on SIGTERM (the image STOPSIGNAL)', async () => {
    gateway!.kill('SIGTERM');
    expect(await gatewayExit).toBe(0);
  });
});
