/**
 * Workers sized by the cgroup CPU quota: fake cgroup v1, v2 and hybrid trees in a temp folder,
 * read by the real function, and the default GATEWAY_WORKERS production gets from it.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/config.js';
import { cpuLimit } from '../../src/config/cpu-limit.js';

const base = mkdtempSync(join(tmpdir(), 'mtls-gw-cgroup-'));
afterAll(() => rmSync(base, { recursive: true, force: true }));
let n = 0;

/** A fake tree: `membership` is /proc/self/cgroup, `files` are paths under the cgroup root. */
function tree(membership: string, files: Record<string, string>, visibleCpus = 2) {
  const dir = join(base, String(n++));
  const cgroupRoot = join(dir, 'cgroup');
  mkdirSync(cgroupRoot, { recursive: true });
  const procSelfCgroup = join(dir, 'self-cgroup');
  writeFileSync(procSelfCgroup, membership);
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(dirname(join(cgroupRoot, path)), { recursive: true });
    writeFileSync(join(cgroupRoot, path), `${text}\n`);
  }
  return { cgroupRoot, procSelfCgroup, visibleCpus };
}

describe('cpuLimit (automaxprocs-like, rounded up)', () => {
  it('cgroup v2: a Fargate 0.5 vCPU task that sees two CPUs gets one worker, and says why', () => {
    const limit = cpuLimit(tree('0::/\n', { 'cpu.max': '50000 100000' }));
    expect(limit.cpus).toBe(1);
    expect(limit.reason).toMatch(/^CPU quota 50000\/100000 \(0\.5 CPU\) in .*\/cpu\.max: 1 of 2 CPUs seen$/);
  });

  it('cgroup v2: rounds 1.5 CPU up to 2, and caps a quota above the CPUs seen', () => {
    expect(cpuLimit(tree('0::/\n', { 'cpu.max': '150000 100000' }, 4)).cpus).toBe(2);
    expect(cpuLimit(tree('0::/\n', { 'cpu.max': '800000 100000' }, 4)).cpus).toBe(4);
    expect(cpuLimit(tree('0::/\n', { 'cpu.max': '1000 100000' }, 4)).cpus).toBe(1); // 0.01 CPU: still one
  });

  it('cgroup v2: "max" means every CPU seen; a parent quota binds its child', () => {
    const unlimited = cpuLimit(tree('0::/\n', { 'cpu.max': 'max 100000' }, 3));
    expect(unlimited).toEqual({
      cpus: 3,
      reason: 'no CPU quota (cgroup v2 cpu.max unlimited): every CPU seen (3)',
    });
    const nested = cpuLimit(
      tree('0::/ecs/task-1/container-a\n', {
        'cpu.max': 'max 100000',
        'ecs/task-1/cpu.max': '25000 100000',
        'ecs/task-1/container-a/cpu.max': 'max 100000',
      }),
    );
    expect(nested.cpus).toBe(1);
    expect(nested.reason).toContain('ecs/task-1/cpu.max');
  });

  it('cgroup v1: cpu.cfs_quota_us / cpu.cfs_period_us under the cpu,cpuacct hierarchy', () => {
    const limit = cpuLimit(
      tree(
        '5:memory:/docker/abc\n4:cpu,cpuacct:/docker/abc\n',
        {
          'cpu,cpuacct/docker/abc/cpu.cfs_quota_us': '200000',
          'cpu,cpuacct/docker/abc/cpu.cfs_period_us': '100000',
        },
        8,
      ),
    );
    expect(limit.cpus).toBe(2);
    expect(limit.reason).toContain('CPU quota 200000/100000 (2 CPU)');
    const unlimited = cpuLimit(
      tree('1:cpu:/\n', { 'cpu/cpu.cfs_quota_us': '-1', 'cpu/cpu.cfs_period_us': '100000' }),
    );
    expect(unlimited.cpus).toBe(2);
    expect(unlimited.reason).toContain('unlimited');
  });

  it('hybrid (v1 controllers and an empty v2 line): the v1 cpu hierarchy decides', () => {
    const limit = cpuLimit(
      tree('2:cpuacct:/\n1:cpu:/\n0::/\n', {
        'cpu/cpu.cfs_quota_us': '50000',
        'cpu/cpu.cfs_period_us': '100000',
        'unified/cgroup.controllers': '',
      }),
    );
    expect(limit.cpus).toBe(1);
  });

  it('no cgroup files at all: every CPU seen, and the reason says so', () => {
    expect(cpuLimit(tree('0::/\n', {}, 2))).toEqual({
      cpus: 2,
      reason: 'no cgroup CPU controller found: every CPU seen (2)',
    });
    expect(cpuLimit({ procSelfCgroup: join(base, 'absent'), visibleCpus: 2 }).reason).toMatch(
      /^no cgroup information/,
    );
  });
});

describe('GATEWAY_WORKERS default', () => {
  const production = {
    NODE_ENV: 'production',
    GATEWAY_SERVER_CERT: '/run/server.pem',
    GATEWAY_SERVER_KEY: '/run/server-key.pem',
    GATEWAY_CA_BUNDLE: '/run/ca-bundle.pem',
    GATEWAY_CRLS: '/run/crl.pem',
    GATEWAY_UPSTREAM: 'http://127.0.0.1:8081',
  };
  const half = () => cpuLimit(tree('0::/\n', { 'cpu.max': '50000 100000' }));

  it('is the cgroup quota in production, with its reason', () => {
    const c = loadConfig(production, '/srv', half);
    expect(c.workers).toBe(1);
    expect(c.workersReason).toMatch(/^CPU quota 50000\/100000/);
  });

  it('is overridden by GATEWAY_WORKERS, and is one process in development', () => {
    const c = loadConfig({ ...production, GATEWAY_WORKERS: '3' }, '/srv', half);
    expect([c.workers, c.workersReason]).toEqual([3, 'GATEWAY_WORKERS']);
    const dev = loadConfig({}, '/srv', half);
    expect([dev.workers, dev.workersReason]).toEqual([1, 'development default (one process)']);
  });
});
