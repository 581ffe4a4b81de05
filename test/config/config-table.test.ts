/**
 * The configuration table is the one list: the README shows exactly it (npm run docs:config),
 * KNOWN_VARIABLES is exactly its names, and every row is really parsed (a bad value for it stops
 * start-up naming that variable), so no row is documentation only.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  ConfigError,
  configTableMarkdown,
  KNOWN_VARIABLES,
  loadConfig,
  SETTINGS,
} from '../../src/config/config.js';

const README = readFileSync(resolve(import.meta.dirname, '../../README.md'), 'utf8');

function readmeTable(): string {
  const m = /<!-- config-table:start[^>]*-->\n([\s\S]*?)\n<!-- config-table:end -->/.exec(README);
  expect(m, 'README.md has the config-table markers').not.toBeNull();
  return m![1]!;
}

/** A Markdown table as its cells, so Biome's column padding does not count. */
function cells(table: string): string[][] {
  return table
    .split('\n')
    .filter((line) => !/^\|[\s|:-]+\|$/.test(line))
    .map((line) =>
      line
        .slice(1, -1)
        .split(/(?<!\\)\|/)
        .map((cell) => cell.trim()),
    );
}

describe('configuration table', () => {
  it('is what the README shows (run `npm run docs:config` after changing src/config/config.ts)', () => {
    expect(cells(readmeTable())).toEqual(cells(configTableMarkdown()));
  });

  it("names exactly KNOWN_VARIABLES, in the README's rows", () => {
    const names = cells(readmeTable())
      .slice(1)
      .map((row) => row[0]!.replaceAll('`', ''));
    expect(names).toEqual(Object.keys(SETTINGS));
    expect(new Set(names)).toEqual(KNOWN_VARIABLES);
    expect(names).toContain('GATEWAY_LOG_FORMAT');
  });

  it.each(Object.keys(SETTINGS))('parses %s: a bad value stops start-up naming it', (name) => {
    let error: unknown;
    try {
      loadConfig({ [name]: 'ldap://not-a-value' }, '/nonexistent-dir');
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).variable).toBe(name);
  });

  it('keeps every default a value its own parser accepts', () => {
    const c = loadConfig({}, '/srv');
    expect(c.logFormat).toBe('native');
    expect(c.limits.maxBodyBytes).toBe(104_857_600);
    expect(c.logBufferBytes).toBe(4_194_304);
    expect(c.workers).toBe(1);
    expect(c.configFile).toBeUndefined();
  });
});
