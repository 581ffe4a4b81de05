/**
 * The CPUs this process may use: its cgroup's CPU quota (what a Fargate task's 0.25/0.5/1/2 vCPU
 * is), not the CPUs it sees (a 0.5 vCPU task sees two). As Go's automaxprocs does, but rounded up:
 * quota ÷ period, the smallest along the cgroup path (a parent's quota binds its children), at
 * least 1 and at most the CPUs seen. cgroup v1 (`cpu.cfs_quota_us`/`cpu.cfs_period_us`, also in
 * hybrid mode) and v2 (`cpu.max`). Both roots are parameters so that tests use a fake tree.
 */
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { posix } from 'node:path';

export interface CpuLimit {
  /** Worker processes that fit: ceil(quota), capped by the CPUs seen; every CPU when unlimited. */
  readonly cpus: number;
  /** One line for the start-up log: where the number came from. */
  readonly reason: string;
}

export interface CpuLimitOptions {
  /** Where the cgroup filesystem is mounted (default /sys/fs/cgroup). */
  readonly cgroupRoot?: string;
  /** The process's cgroup membership file (default /proc/self/cgroup). */
  readonly procSelfCgroup?: string;
  /** CPUs seen (default os.availableParallelism()). */
  readonly visibleCpus?: number;
}

interface Quota {
  readonly quota: number;
  readonly period: number;
  readonly file: string;
}

function read(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8').trim();
  } catch {
    return undefined;
  }
}

/** The folder and its ancestors up to the mount point, deepest first. */
function pathAndAncestors(path: string): string[] {
  const out: string[] = [];
  let p = posix.normalize(`/${path}`);
  for (;;) {
    out.push(p);
    if (p === '/') return out;
    p = posix.dirname(p);
  }
}

function tightest(candidates: Quota[]): Quota | undefined {
  return candidates.reduce<Quota | undefined>(
    (best, q) => (best === undefined || q.quota / q.period < best.quota / best.period ? q : best),
    undefined,
  );
}

function v2Quota(root: string, path: string): { quota?: Quota; seen: boolean } {
  const found: Quota[] = [];
  let seen = false;
  for (const dir of pathAndAncestors(path)) {
    const file = posix.join(root, dir, 'cpu.max');
    const text = read(file);
    if (text === undefined) continue;
    seen = true;
    const [quota, period] = text.split(/\s+/);
    const q = Number(quota);
    const p = Number(period ?? '100000');
    if (quota !== 'max' && q > 0 && p > 0) found.push({ quota: q, period: p, file });
  }
  const quota = tightest(found);
  return quota ? { quota, seen } : { seen };
}

function v1Quota(root: string, controllers: string, path: string): { quota?: Quota; seen: boolean } {
  const found: Quota[] = [];
  let seen = false;
  // The hierarchy is mounted under its controller list (cpu,cpuacct) and usually also as cpu.
  const mounts = [...new Set([controllers, 'cpu', 'cpu,cpuacct', 'cpuacct,cpu'])];
  for (const mount of mounts) {
    for (const dir of pathAndAncestors(path)) {
      const file = posix.join(root, mount, dir, 'cpu.cfs_quota_us');
      const quota = read(file);
      if (quota === undefined) continue;
      seen = true;
      const period = Number(read(posix.join(root, mount, dir, 'cpu.cfs_period_us')) ?? '100000');
      const q = Number(quota);
      if (q > 0 && period > 0) found.push({ quota: q, period, file });
    }
    if (seen) break;
  }
  const quota = tightest(found);
  return quota ? { quota, seen } : { seen };
}

export function cpuLimit(opts: CpuLimitOptions = {}): CpuLimit {
  const root = opts.cgroupRoot ?? '/sys/fs/cgroup';
  const visible = Math.max(1, opts.visibleCpus ?? availableParallelism());
  const every = `every CPU seen (${visible})`;
  const membership = read(opts.procSelfCgroup ?? '/proc/self/cgroup');
  if (membership === undefined) return { cpus: visible, reason: `no cgroup information: ${every}` };

  let result: { quota?: Quota; seen: boolean } = { seen: false };
  let version = '';
  const lines = membership.split('\n').map((l) => {
    const m = /^\d+:([^:]*):(.*)$/.exec(l);
    return { controllers: m?.[1] ?? '', path: m?.[2] || '/' };
  });
  // cgroup v1 (or hybrid): the hierarchy with the cpu controller decides.
  const v1 = lines.find((l) => l.controllers.split(',').includes('cpu'));
  if (v1) {
    result = v1Quota(root, v1.controllers, v1.path);
    version = 'cgroup v1 cpu.cfs_quota_us/cpu.cfs_period_us';
  }
  const v2 = lines.find((l) => l.controllers === '');
  if (!result.seen && v2) {
    result = v2Quota(root, v2.path);
    version = 'cgroup v2 cpu.max';
  }
  if (!result.seen) return { cpus: visible, reason: `no cgroup CPU controller found: ${every}` };
  const { quota } = result;
  if (!quota) return { cpus: visible, reason: `no CPU quota (${version} unlimited): ${every}` };
  const share = quota.quota / quota.period;
  const cpus = Math.min(visible, Math.max(1, Math.ceil(share)));
  return {
    cpus,
    reason:
      `CPU quota ${quota.quota}/${quota.period} (${Number(share.toFixed(3))} CPU) in ${quota.file}: ` +
      `${cpus} of ${visible} CPUs seen`,
  };
}
