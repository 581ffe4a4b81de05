/**
 * Dockerfile lint: syntax with dockerfile-utils, house rules on the parsed file (dockerfile-ast).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { validate } from 'dockerfile-utils';
import { describe, expect, it } from 'vitest';
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

  it('has a HEALTHCHECK that needs no curl: the gateway binary asks /healthz itself', () => {
    expect(docker.healthcheck?.command).toEqual(['node', 'dist/cli/main.js', 'healthcheck']);
    expect(docker.healthcheck?.flags.timeout).toMatch(/^\d+s$/);
    const cli = readFileSync(join(root, 'src/cli/main.ts'), 'utf8');
    expect(cli).toContain("case 'healthcheck':");
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
