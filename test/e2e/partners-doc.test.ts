/**
 * docs/partners.md is executable: every `sh` and `python` block runs (bash / python3) from the
 * folder holding the test PKI against a real gateway with the policy `npm start` ships
 * (config/demo-gateway.json: whoami on, an `/admin` route nobody may call) in explain mode, with
 * `localhost:8443` pointed at it; each `# expect: …` must be in the output.
 */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEMO_POLICY } from '../../src/cli/serve-command.js';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { makeTestPki, type TestPki } from '../helpers/pki.js';

const run = promisify(execFile);
const doc = readFileSync(new URL('../../docs/partners.md', import.meta.url), 'utf8');
const blocks = [...doc.matchAll(/```(sh|python)\n([\s\S]*?)```/g)].map((m, i) => ({
  index: i,
  lang: m[1] as 'sh' | 'python',
  code: m[2]!,
  expects: [...m[2]!.matchAll(/# expect: (.+)$/gm)].map((e) => e[1]!.trim()),
}));

let pki: TestPki;
let gw: TestGateway;

beforeAll(async () => {
  pki = await makeTestPki();
  gw = await startTestGateway(pki, { GATEWAY_CONFIG: DEMO_POLICY, GATEWAY_VERIFY_MODE: 'explain' });
});
afterAll(async () => {
  await gw?.close();
  await pki?.cleanup();
});

/** Indexes of the blocks run so far in this file. */
const ran = new Set<number>();

/** Runs one block from the PKI folder against the gateway; its stdout. */
async function runBlock(block: (typeof blocks)[number]): Promise<string> {
  const code = block.code.replaceAll('localhost:8443', `localhost:${gw.port}`);
  const { stdout } =
    block.lang === 'sh'
      ? await run('bash', ['-euo', 'pipefail', '-c', code], { cwd: pki.dir, timeout: 15_000 })
      : await run('python3', ['-c', code], { cwd: pki.dir, timeout: 15_000 });
  ran.add(block.index);
  return stdout;
}

describe('docs/partners.md', () => {
  it('has the commands the issue asks for', () => {
    const text = blocks.map((b) => b.code).join('\n');
    for (const tool of [
      'curl ',
      'openssl s_client',
      'openssl pkcs12 -export',
      'import ssl',
      '--cert-type P12',
    ]) {
      expect(text).toContain(tool);
    }
    expect(blocks.every((b) => b.expects.length > 0)).toBe(true);
  });

  it.each(blocks.map((b) => [`${b.lang} block ${b.index + 1}: ${b.code.split('\n')[0]}`, b] as const))(
    '%s',
    async (_name, block) => {
      // The doc is one walkthrough (a later block uses the .p12 an earlier one made): run alone,
      // a block first runs the blocks before it that have not run in this file yet.
      for (const earlier of blocks.slice(0, block.index))
        if (!ran.has(earlier.index)) await runBlock(earlier);
      const stdout = await runBlock(block);
      for (const e of block.expects)
        expect(stdout.replace(/"\s*:\s*"/g, '": "')).toContain(e.replace(/"\s*:\s*"/g, '": "'));
    },
  );
});
