/**
 * cfn-lint, AWS's own template validator, on every template with the informational checks too
 * (`--include-checks I`): zero findings. It complements the spec-based house rules in
 * templates.test.ts. Where cfn-lint is missing this fails and says how to install it: it never
 * skips, so a CI machine without it cannot pass quietly.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const dir = join(import.meta.dirname, '../../cloudformation');
const templates = readdirSync(dir)
  .filter((f) => f.endsWith('.yaml'))
  .sort();
const version = spawnSync('cfn-lint', ['--version'], { encoding: 'utf8' });
const missing =
  version.error || version.status !== 0
    ? 'cfn-lint is not installed (pip install cfn-lint; .ci/run tries it, PyPI may be unreachable)'
    : undefined;

/** Findings as `file:line rule message`, one per line (parseable format); [] when clean. */
function lint(files: string[]): string[] {
  if (missing) throw new Error(missing);
  const run = spawnSync('cfn-lint', ['--include-checks', 'I', '--format', 'parseable', '--', ...files], {
    encoding: 'utf8',
  });
  if (run.error) throw run.error;
  const findings = run.stdout.split('\n').filter(Boolean);
  // Exit status 0 means clean; with findings it is non-zero (2 errors, 4 warnings, 8 informational).
  if (findings.length === 0) expect(run.status, run.stderr).toBe(0);
  return findings;
}

const scratch = mkdtempSync(join(tmpdir(), 'mtls-gw-cfnlint-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

describe('cfn-lint on every template, informational checks included', () => {
  it('is installed', () => {
    expect(missing).toBeUndefined();
    expect(version.stdout).toMatch(/^cfn-lint \d+\.\d+/);
  });

  it(`finds nothing in ${templates.join(', ')}`, () => {
    expect(templates.length).toBeGreaterThanOrEqual(3);
    expect(lint(templates.map((t) => join(dir, t)))).toEqual([]);
  });

  it('is live: a log group without deletion policies is reported (I3011)', () => {
    const bad = join(scratch, 'bad.yaml');
    writeFileSync(
      bad,
      'AWSTemplateFormatVersion: "2010-09-09"\nResources:\n  Logs:\n    Type: AWS::Logs::LogGroup\n    Properties:\n      RetentionInDays: 7\n',
    );
    expect(lint([bad]).join('\n')).toContain('I3011');
  });
});

// The version in use, for the run's log (the machine image carries 1.51).
if (!missing) process.stderr.write(`cfn-lint: ${version.stdout}`);
