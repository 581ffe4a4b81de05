/**
 * A configuration mistake stops the real `serve` at once: exit code 2 and one line on stderr
 * naming the variable (the parsers themselves: test/config/config.test.ts).
 */
import { execFile } from 'node:child_process';
import { resolve } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const run = promisify(execFile);
const CLI = resolve(import.meta.dirname, '../../dist/cli/main.js');

describe('mtls-gateway serve', () => {
  it('exits 2 with one line naming the variable on a configuration error', async () => {
    const err = await run(process.execPath, [CLI, 'serve'], {
      env: { PATH: process.env.PATH, GATEWAY_VERIFY_MODE: 'lenient' },
    }).then(
      () => undefined,
      (e: { code: number; stderr: string }) => e,
    );
    expect(err?.code).toBe(2);
    const lines = err!.stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain('GATEWAY_VERIFY_MODE');
  });
});
