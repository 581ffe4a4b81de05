#!/usr/bin/env node
// Every test file belongs to exactly one tier (vitest.config.ts projects `unit` and `e2e`): one in
// neither would never run, not even in `npm test`. Asks vitest itself which files each project
// collects, so the check and the runner cannot disagree. Part of `npm run lint`.
import { execFileSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';

const root = resolve(import.meta.dirname, '..');
const vitest = join(root, 'node_modules/.bin/vitest');
const listed = JSON.parse(
  execFileSync(vitest, ['list', '--filesOnly', '--json'], {
    cwd: root,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
  }),
);
const tiers = new Map();
for (const { file, projectName } of listed) {
  const name = relative(root, file);
  tiers.set(name, [...(tiers.get(name) ?? []), projectName]);
}
const files = readdirSync(join(root, 'test'), { recursive: true })
  .filter((f) => f.endsWith('.test.ts'))
  .map((f) => join('test', f));
const wrong = files.filter((f) => (tiers.get(f) ?? []).length !== 1);
for (const f of wrong) {
  const in_ = tiers.get(f) ?? [];
  console.error(`${f}: in ${in_.length === 0 ? 'no tier' : in_.join(' and ')} (vitest.config.ts projects)`);
}
if (wrong.length > 0) process.exit(1);
const count = (tier) => listed.filter((t) => t.projectName === tier).length;
console.log(
  `test tiers: ${files.length} files, ${count('unit')} unit, ${count('e2e')} e2e, each in exactly one`,
);
