/**
 * docs/design.md is the contract as the code implements it: its closed lists (metrics with their
 * labels, handshake reasons, the gateway's own error codes, log events) are exactly what the code
 * defines, and no document of the repository points outside it.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createMetrics } from '../../src/observability/index.js';
import { GATEWAY_ERRORS } from '../../src/proxy/errors.js';
import { REFUSAL_REASONS } from '../../src/tls/refusal.js';

const ROOT = resolve(import.meta.dirname, '../..');
const DESIGN = readFileSync(join(ROOT, 'docs/design.md'), 'utf8');

function section(name: string): string {
  const m = new RegExp(`<!-- ${name}:start -->\\n([\\s\\S]*?)\\n<!-- ${name}:end -->`).exec(DESIGN);
  expect(m, `docs/design.md has the ${name} markers`).not.toBeNull();
  return m![1]!;
}

/** The rows of a Markdown table, as trimmed cells, header and separator left out. */
function rows(table: string): string[][] {
  return table
    .split('\n')
    .slice(2)
    .map((line) =>
      line
        .slice(1, -1)
        .split('|')
        .map((cell) => cell.trim()),
    );
}

const codeNames = (text: string): string[] => [...text.matchAll(/`([^`]+)`/g)].map((m) => m[1]!);

function filesUnder(dir: string, keep: (path: string) => boolean): string[] {
  return readdirSync(dir).flatMap((entry) => {
    const path = join(dir, entry);
    if (statSync(path).isDirectory()) return filesUnder(path, keep);
    return keep(path) ? [path] : [];
  });
}

describe('docs/design.md', () => {
  it('lists exactly the metrics the gateway registers, with their label names', () => {
    const registered = createMetrics({ defaultMetrics: false })
      .registry.getMetricsAsArray()
      // prom-client's MetricObject type omits labelNames; every Counter, Gauge and Histogram has it.
      .map((m) => m as typeof m & { labelNames?: readonly string[] })
      .map((m) => [m.name.replace(/^mtls_gateway_/, ''), (m.labelNames ?? []).join(',')]);
    const documented = rows(section('metrics')).map(([name, labels]) => [
      codeNames(name!)[0],
      codeNames(labels!).join(','),
    ]);
    expect(documented.sort()).toEqual(registered.sort());
  });

  it('lists exactly the handshake reasons, in their order', () => {
    expect(codeNames(section('reasons'))).toEqual([...REFUSAL_REASONS]);
  });

  it("lists exactly the gateway's own error codes with their status", () => {
    const documented = rows(section('errors')).map(([code, status]) => [codeNames(code!)[0], Number(status)]);
    const defined = Object.entries(GATEWAY_ERRORS).map(([code, e]) => [code, e.status]);
    expect(documented).toEqual(defined);
  });

  it('lists every log event the code writes, and no other', () => {
    const written = new Set<string>();
    for (const file of filesUnder(join(ROOT, 'src'), (p) => p.endsWith('.ts'))) {
      for (const m of readFileSync(file, 'utf8').matchAll(/\bevent: '([a-z_]+)'/g)) written.add(m[1]!);
    }
    const documented = [...section('events').matchAll(/^- `([a-z_]+)`:/gm)].map((m) => m[1]!);
    expect(new Set(documented)).toEqual(written);
  });

  it('is what the repository points to: no document or source names a path outside it', () => {
    const outside = ['..', 'shared', ''].join('/');
    const files = [
      'README.md',
      'CHANGELOG.md',
      'CONTRIBUTING.md',
      ...['docs', 'src', 'test', 'scripts', 'bench', '.ci'].flatMap((d) =>
        filesUnder(join(ROOT, d), (p) => /\.(md|ts|mjs|cjs|sh|json)$|\/run$/.test(p)).map((p) =>
          p.slice(ROOT.length + 1),
        ),
      ),
    ];
    const pointing = files.filter((f) => readFileSync(join(ROOT, f), 'utf8').includes(outside));
    expect(pointing).toEqual([]);
  });
});
