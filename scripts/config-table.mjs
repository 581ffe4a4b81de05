#!/usr/bin/env node
// Rewrites the README's configuration table from the table in src/config/config.ts (via dist/, so
// run after `npm run build`; `npm run docs:config` does both). test/config/config-table.test.ts
// fails while the README and the table disagree.
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { configTableMarkdown } from '../dist/config/config.js';

const START = '<!-- config-table:start (npm run docs:config writes this table) -->';
const END = '<!-- config-table:end -->';
const readme = resolve(import.meta.dirname, '../README.md');
const text = readFileSync(readme, 'utf8');
const from = text.indexOf(START);
const to = text.indexOf(END);
if (from < 0 || to < from) {
  console.error(`config-table: README.md has no ${START} … ${END} markers`);
  process.exit(1);
}
const next = `${text.slice(0, from + START.length)}\n${configTableMarkdown()}\n${text.slice(to)}`;
writeFileSync(readme, next);
// Biome formats Markdown too (its padded table is what `npm run lint` accepts).
execFileSync(resolve(import.meta.dirname, '../node_modules/.bin/biome'), ['format', '--write', readme], {
  stdio: 'inherit',
});
console.log(
  readFileSync(readme, 'utf8') === text ? 'README.md: table already current' : 'README.md: table rewritten',
);
