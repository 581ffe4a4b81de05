/**
 * Dockerfile lint: syntax with dockerfile-utils, house rules on the parsed file (dockerfile-ast).
 */

import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { validate } from 'dockerfile-utils';
import { describe, expect, it } from 'vitest';
import { startTestGateway } from '../helpers/gateway.js';
import { makeTestPki } from '../helpers/pki.js';

/** A loopback port nothing listens on (bound, then released). */
function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

import { readDockerfile } from './dockerfile.js';

const root = join(import.meta.dirname, '../..');
const docker = readDockerfile(join(root, 'Dockerfile'));

describe('Dockerfile', () => {
  it('has no syntax or instruction problems (dockerfile-utils)', () => {
    expect(validate(docker.text).map((d) => `line ${d.range.start.line + 1}: ${d.message}`)).toEqual([]);
    // The linter is live: a broken file is reported.
    expect(validate('FROM node:24\nEXPOSE https\nFOO bar\n').length).toBeGreaterThanOrEqual(2);
  });

  it('builds in one stage and ships from another, every base pinned to an exact release or digest', () => {
    expect(docker.stages.length).toBeGreaterThanOrEqual(2);
    for (const stage of docker.stages) {
      if (docker.stages.some((s) => s.name === stage.image)) continue; // FROM an earlier stage
      expect(stage.image, stage.name).toMatch(/@sha256:[0-9a-f]{64}$|^[^:@]+:\d+\.\d+\.\d+(-[a-z0-9.-]+)?$/);
    }
    expect(docker.runtime.image).toMatch(/^node:24\./); // the current LTS (design.md, Runtime)
    expect(docker.runtime.steps.filter((s) => s.kind === 'run')).toEqual([]); // nothing to run, nothing to leave
  });

  it('runs as a non-root user in production mode, with exec-form commands and SIGTERM', () => {
    expect(docker.user).toBeDefined();
    expect(docker.user!.split(':')[0]).not.toMatch(/^(root|0)$/);
    expect(docker.env.NODE_ENV).toBe('production');
    expect(docker.shellForm).toEqual([]);
    expect(docker.entrypoint).toEqual(['node', 'dist/cli/main.js']);
    expect(docker.cmd).toEqual(['serve']);
    expect(docker.stopSignal).toBe('SIGTERM');
  });

  it('has a HEALTHCHECK that needs no curl: the gateway binary asks /healthz itself', async () => {
    expect(docker.healthcheck?.command).toEqual(['node', 'dist/cli/main.js', 'healthcheck']);
    expect(docker.healthcheck?.flags.timeout).toMatch(/^\d+s$/);
    // The command itself, run as the HEALTHCHECK runs it: 0 against a live gateway's admin port,
    // non-zero against a port where nothing listens.
    const [, entry, ...args] = docker.healthcheck!.command;
    const pki = await makeTestPki();
    const gw = await startTestGateway(pki);
    try {
      // Asynchronous: the gateway under test answers from this very process.
      const run = (listen: string): Promise<{ status: number; stderr: string }> =>
        new Promise((done) => {
          execFile(
            process.execPath,
            [join(root, entry!), ...args],
            { env: { PATH: process.env.PATH, GATEWAY_ADMIN_LISTEN: listen }, timeout: 10_000 },
            (err, _stdout, stderr) => done({ status: err ? Number(err.code ?? -1) : 0, stderr }),
          );
        });
      const live = await run(`127.0.0.1:${gw.adminPort}`);
      expect(live.status, live.stderr).toBe(0);
      const closed = await freePort();
      const dead = await run(`127.0.0.1:${closed}`);
      expect(dead.status).toBe(1);
      expect(dead.stderr).toContain('healthcheck:');
    } finally {
      await gw.close();
      await pki.cleanup();
    }
  });

  it('never ADDs remote URLs or archives, and copies only what the build needs', () => {
    const adds = docker.stages.flatMap((s) => s.instructions.filter((i) => i.getKeyword() === 'ADD'));
    expect(adds.map((i) => i.getArgumentsContent())).toEqual([]);
    expect(docker.text).not.toMatch(/^\s*ADD\s+\S*https?:\/\//im);
  });

  it('.dockerignore keeps git, local builds, the development PKI and tests out of the context', () => {
    const ignored = readFileSync(join(root, '.dockerignore'), 'utf8')
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l && !l.startsWith('#'));
    for (const entry of ['.git', 'node_modules', 'dist', 'certs-dev', 'test'])
      expect(ignored).toContain(entry);
  });
});
