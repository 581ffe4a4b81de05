#!/usr/bin/env node
/**
 * Issue 19: "every test file runs on its own, and closes what it starts". Runs each test file
 * alone (`vitest run FILE`), and, for files with shared state (beforeAll, or `let` state at module
 * level), each test of it alone (`vitest run FILE -t NAME`), one at a time. Not part of `npm test`:
 * it takes long (one vitest start per run). Needs dist/ (`npm run build`) like the suite.
 *
 *   node scripts/each-test-alone.mjs [--files-only | --tests-only] [--timeout SECONDS] [--budget SECONDS] [FILE_OR_DIR ...]
 *
 * First every file alone, then each test alone in the files with shared state; --budget stops
 * starting per-test runs of further files after SECONDS (they are named at the end).
 *
 * A run fails when vitest exits non-zero, when it runs no test (a -t name that matched nothing),
 * or when it has not exited SECONDS (default 300) after starting: a handle left open (a server,
 * a timer, a child process) keeps a worker from finishing. Prints one line per run and a summary;
 * exits 1 if any run failed. Run it at low priority on a shared machine: `nice -n 10 node …`.
 */
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { stripVTControlCharacters } from 'node:util';

const root = new URL('..', import.meta.url).pathname;
const args = process.argv.slice(2);
const filesOnly = args.includes('--files-only');
const testsOnly = args.includes('--tests-only');
const timeoutAt = args.indexOf('--timeout');
const timeoutSeconds = timeoutAt >= 0 ? Number(args[timeoutAt + 1]) : 300;
const budgetAt = args.indexOf('--budget');
/** Seconds after which no further file starts its per-test runs (default: no limit). */
const budgetSeconds = budgetAt >= 0 ? Number(args[budgetAt + 1]) : Infinity;
const targets = args.filter(
  (a, i) => !a.startsWith('--') && args[i - 1] !== '--timeout' && args[i - 1] !== '--budget',
);

function testFiles(path) {
  if (statSync(path).isFile()) return path.endsWith('.test.ts') ? [path] : [];
  return readdirSync(path)
    .sort()
    .flatMap((e) => testFiles(join(path, e)));
}

const files = (targets.length ? targets : ['test'])
  .flatMap((t) => testFiles(join(root, t)))
  .map((f) => relative(root, f));

/** Shared state: a beforeAll (or a helper that registers one), or mutable module-level bindings. */
function sharesState(text) {
  return /\bbeforeAll\(|\buse[A-Z]\w*Gateway\(/.test(text) || /^let /m.test(text);
}

/** Full names of the tests of one file, as vitest reports them (describe names joined by spaces). */
async function testNames(file) {
  const out = await run(['list', file, '--json'], 120);
  if (out.code !== 0) return { error: out.tail };
  const start = out.stdout.indexOf('[');
  const list = JSON.parse(out.stdout.slice(start));
  return { names: list.map((t) => t.name) };
}

function run(vitestArgs, seconds) {
  return new Promise((resolve) => {
    // The project's own vitest, never npx: with node_modules missing, npx would fetch another one.
    const child = spawn(join(root, 'node_modules/.bin/vitest'), vitestArgs, {
      cwd: root,
      env: { ...process.env, CI: 'true', NO_COLOR: '1', FORCE_COLOR: '0' },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    let stdout = '';
    let all = '';
    child.stdout.on('data', (d) => {
      stdout += d;
      all += d;
    });
    child.stderr.on('data', (d) => {
      all += d;
    });
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      process.kill(-child.pid, 'SIGKILL'); // the whole group this run started
    }, seconds * 1000);
    child.on('close', (code) => {
      clearTimeout(timer);
      all = stripVTControlCharacters(all);
      resolve({
        code: timedOut ? 'timeout' : code,
        stdout,
        all,
        tail: all.split('\n').slice(-15).join('\n'),
      });
    });
  });
}

/**
 * `vitest list` joins describe and test names with " > "; -t matches them joined with " ". The
 * name is escaped (-t is a regular expression) and anchored, so exactly that one test runs.
 */
const exact = (name) => `^${name.replaceAll(' > ', ' ').replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`;

const failures = [];
let fileRuns = 0;
let testRuns = 0;
const started = Date.now();
// Phase 1: every file alone.
for (const file of testsOnly ? [] : files) {
  const whole = await run(['run', file], timeoutSeconds);
  fileRuns++;
  const ranNone = /No test files found|no tests/i.test(whole.all);
  const ok = whole.code === 0 && !ranNone;
  console.log(`${ok ? 'ok  ' : 'FAIL'} file ${file}${ok ? '' : ` (exit ${whole.code})`}`);
  if (!ok) failures.push({ what: file, tail: whole.tail });
}
// Phase 2: each test alone, in the files with shared state, until the budget is spent.
const shared = filesOnly ? [] : files.filter((f) => sharesState(readFileSync(join(root, f), 'utf8')));
const notReached = [];
for (const file of shared) {
  if ((Date.now() - started) / 1000 > budgetSeconds) {
    notReached.push(file);
    continue;
  }
  const listed = await testNames(file);
  if (listed.error) {
    failures.push({ what: `${file} (list)`, tail: listed.error });
    continue;
  }
  for (const name of listed.names) {
    const one = await run(['run', file, '-t', exact(name)], timeoutSeconds);
    testRuns++;
    const passed = /Tests\s+1 passed/.test(one.all);
    const good = one.code === 0 && passed;
    console.log(`${good ? 'ok  ' : 'FAIL'} test ${file} > ${name}${good ? '' : ` (exit ${one.code})`}`);
    if (!good) failures.push({ what: `${file} > ${name}`, tail: one.tail });
  }
}
if (notReached.length) console.log(`\nbudget spent: tests not run alone in ${notReached.join(', ')}`);
console.log(`\n${fileRuns} file runs, ${testRuns} single-test runs, ${failures.length} failed`);
for (const f of failures) console.log(`\n--- ${f.what}\n${f.tail}`);
process.exit(failures.length ? 1 : 0);
