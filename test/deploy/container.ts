/**
 * The built image (scripts/image-build.sh), run as a container runtime would run it where `podman
 * run` cannot start containers (crun/runc fail on setting rlimits on these machines): the image's
 * filesystem from `podman image mount`, bound read-only, a fresh tmpfs at /tmp and /dev, /proc, and
 * its ENTRYPOINT + CMD, ENV, WorkingDir and USER from `podman image inspect`, started with
 * `chroot --userspec`. The network is the host's (as `--network host`).
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const IMAGE = process.env.MTLS_GATEWAY_IMAGE ?? 'localhost/mtls-gateway:dev';

export interface ImageConfig {
  readonly user: string;
  readonly env: Record<string, string>;
  readonly entrypoint: string[];
  readonly cmd: string[];
  readonly workingDir: string;
  readonly stopSignal: string;
  readonly healthcheck: string[];
  readonly labels: Record<string, string>;
  readonly size: number;
}

function sh(cmd: string, args: string[]): string {
  return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();
}

/** Why the image cannot be used here, or undefined when it can. */
export function imageUnavailable(): { reason: string; noEngine: boolean } | undefined {
  try {
    sh('podman', ['--version']);
  } catch {
    return { reason: 'podman is not installed (apt-get install podman; .ci/run does)', noEngine: true };
  }
  try {
    sh('podman', ['image', 'exists', IMAGE]);
  } catch {
    return { reason: `image ${IMAGE} is missing: run \`npm run image:build\` first`, noEngine: false };
  }
  return undefined;
}

export function inspectImage(image = IMAGE): ImageConfig {
  const [info] = JSON.parse(sh('podman', ['image', 'inspect', image])) as {
    Config: {
      User?: string;
      Env?: string[];
      Entrypoint?: string[];
      Cmd?: string[];
      WorkingDir?: string;
      StopSignal?: string;
      Labels?: Record<string, string>;
    };
    Healthcheck?: { Test?: string[] };
    Size: number;
  }[];
  const c = info!.Config;
  return {
    user: c.User ?? '',
    env: Object.fromEntries(
      (c.Env ?? []).map((e) => [e.slice(0, e.indexOf('=')), e.slice(e.indexOf('=') + 1)]),
    ),
    entrypoint: c.Entrypoint ?? [],
    cmd: c.Cmd ?? [],
    workingDir: c.WorkingDir ?? '/',
    stopSignal: c.StopSignal ?? 'SIGTERM',
    healthcheck: info!.Healthcheck?.Test ?? [],
    labels: c.Labels ?? {},
    size: info!.Size,
  };
}

/** The image's root, mounted read-only with writable /tmp, plus read-only binds of host folders. */
export class ContainerRoot {
  private readonly mounts: string[] = [];

  private constructor(
    /** The image id (not the tag). */
    readonly image: string,
    readonly root: string,
  ) {}

  static open(image: string, binds: Readonly<Record<string, string>> = {}): ContainerRoot {
    // By id: a rebuild moving the tag meanwhile must not leave this image mounted.
    const id = sh('podman', ['image', 'inspect', '--format', '{{.Id}}', image]);
    const merged = sh('podman', ['image', 'mount', id]);
    const c = new ContainerRoot(id, mkdtempSync(join(tmpdir(), 'mtls-gw-rootfs-')));
    try {
      c.mount(['--bind', merged, c.root]);
      sh('mount', ['-o', 'remount,bind,ro', c.root]);
      c.mount(['-t', 'tmpfs', '-o', 'size=64m,mode=1777,nosuid,nodev', 'tmpfs', join(c.root, 'tmp')]);
      c.mount(['-t', 'proc', '-o', 'nosuid,nodev,noexec', 'proc', join(c.root, 'proc')]);
      // /dev as a runtime gives it: a small tmpfs with the character devices Node may open.
      c.mount(['-t', 'tmpfs', '-o', 'size=64k,mode=755,nosuid', 'tmpfs', join(c.root, 'dev')]);
      for (const dev of ['null', 'zero', 'random', 'urandom']) {
        writeFileSync(join(c.root, 'dev', dev), '');
        c.mount(['--bind', `/dev/${dev}`, join(c.root, 'dev', dev)]);
      }
      for (const [host, inside] of Object.entries(binds)) {
        const target = join(c.root, inside);
        c.mount(['--bind', host, target]);
        sh('mount', ['-o', 'remount,bind,ro', target]);
      }
    } catch (err) {
      c.close();
      throw err;
    }
    return c;
  }

  /** `mount ARGS… TARGET`, remembered for close(). */
  private mount(args: string[]): void {
    sh('mount', args);
    this.mounts.push(args.at(-1)!);
  }

  /** Runs `argv` in the image as its USER, in its WorkingDir, with exactly `env`. */
  spawn(config: ImageConfig, argv: string[], env: Record<string, string>): ChildProcess {
    const userspec = config.user.includes(':') ? config.user : `${config.user}:${config.user}`;
    return spawn(
      'chroot',
      [`--userspec=${userspec}`, this.root, '/usr/bin/env', `--chdir=${config.workingDir}`, ...argv],
      { env, stdio: ['ignore', 'pipe', 'pipe'] },
    );
  }

  /** Unmounts everything it mounted, innermost first; one failure does not stop the rest. */
  close(): void {
    const failures: string[] = [];
    for (const target of this.mounts.splice(0).reverse()) {
      try {
        sh('umount', [target]);
      } catch {
        try {
          sh('umount', ['-l', target]);
        } catch (err) {
          failures.push(`${target}: ${(err as Error).message}`);
        }
      }
    }
    try {
      rmdirSync(this.root);
    } catch {
      // still busy: left for the OS's temp cleanup rather than failing the run
    }
    try {
      sh('podman', ['image', 'unmount', this.image]);
    } catch (err) {
      failures.push(`podman image unmount: ${(err as Error).message}`);
    }
    if (failures.length > 0) throw new Error(`container root not fully released:\n${failures.join('\n')}`);
  }
}
