/**
 * Runs every `sh` block of docs/runbooks/*.md, in order, in a temporary folder, with
 * `mtls-gateway` on PATH (the built CLI) and the AWS SDK pointed at local Secrets Manager and S3
 * servers (`$SECRET_ID` and `$CRL_S3` name where the runbook publishes).
 * A block starting with `# expect exit N` must exit N; any other block must exit 0.
 */
import { execFile } from 'node:child_process';
import { chmodSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { S3Server } from '../helpers/s3-server.js';
import { SecretsManagerServer } from '../helpers/secrets-manager-server.js';
import { CLI } from './run-cli.js';

const RUNBOOKS = resolve(import.meta.dirname, '../../docs/runbooks');

interface Step {
  readonly script: string;
  readonly expectedExit: number;
  readonly line: number;
}

function stepsOf(markdown: string): Step[] {
  const steps: Step[] = [];
  const lines = markdown.split('\n');
  for (let i = 0; i < lines.length; i++) {
    if (lines[i] !== '```sh') continue;
    const start = i + 1;
    let end = start;
    while (end < lines.length && lines[end] !== '```') end++;
    const body = lines.slice(start, end);
    const m = /^# expect exit (\d+)$/.exec(body[0] ?? '');
    steps.push({ script: body.join('\n'), expectedExit: m ? Number(m[1]) : 0, line: start });
    i = end;
  }
  return steps;
}

function runStep(
  script: string,
  cwd: string,
  env: Record<string, string>,
): Promise<{ code: number; output: string }> {
  return new Promise((done) => {
    execFile(
      'bash',
      ['-eo', 'pipefail', '-c', script],
      { cwd, env, timeout: 60_000 },
      (err, stdout, stderr) => {
        done({
          code: err ? (typeof err.code === 'number' ? err.code : -1) : 0,
          output: `${stdout}${stderr}`,
        });
      },
    );
  });
}

// Every step is a CLI process (about 0.8 s of start-up each); a loaded 2-core machine needs room.
vi.setConfig({ testTimeout: 120_000 });

let sm: SecretsManagerServer;
let s3: S3Server;
let bin: string;

beforeAll(async () => {
  [sm, s3] = await Promise.all([SecretsManagerServer.start(), S3Server.start()]);
  bin = await mkdtemp(join(tmpdir(), 'mtls-gw-runbook-bin-'));
  writeFileSync(join(bin, 'mtls-gateway'), `#!/bin/sh\nexec "${process.execPath}" "${CLI}" "$@"\n`);
  chmodSync(join(bin, 'mtls-gateway'), 0o755);
});
afterAll(async () => {
  await Promise.all([sm.close(), s3.close()]);
  await rm(bin, { recursive: true, force: true });
});

const files = readdirSync(RUNBOOKS).filter((f) => f.endsWith('.md') && f !== 'README.md');

describe('runbooks', () => {
  it('there are the five runbooks of issue 6, each with steps', () => {
    expect(files.sort()).toEqual([
      'crl-about-to-expire.md',
      'onboarding-a-partner-ca.md',
      'renewing-the-server-certificate.md',
      'revoking-a-partner-certificate.md',
      'rotating-the-ca-bundle.md',
    ]);
    for (const f of files)
      expect(stepsOf(readFileSync(join(RUNBOOKS, f), 'utf8')).length, f).toBeGreaterThan(2);
  });

  it.concurrent.each(files)('%s: every step runs with the expected exit code', async (file) => {
    const cwd = await mkdtemp(join(tmpdir(), 'mtls-gw-runbook-'));
    try {
      const env: Record<string, string> = {
        PATH: `${bin}:${process.env.PATH ?? ''}`,
        HOME: cwd,
        ...sm.env(),
        ...s3.env(),
        SECRET_ID: `runbooks/${file}`,
        CRL_S3: `s3://runbooks/${file.replace(/\.md$/, '')}.crl`,
      };
      for (const step of stepsOf(readFileSync(join(RUNBOOKS, file), 'utf8'))) {
        const r = await runStep(step.script, cwd, env);
        expect(r.code, `${file} line ${step.line}:\n${step.script}\n--- output ---\n${r.output}`).toBe(
          step.expectedExit,
        );
      }
    } finally {
      await rm(cwd, { recursive: true, force: true });
    }
  });
});
