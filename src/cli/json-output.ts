/** The `--json` output of every command: one style, shared with `/trust` (README, Security team tooling). */

/** Field names whose numbers are instants (epoch milliseconds inside the code). */
const INSTANT = /(^|_)(at|not_before|not_after|this_update|next_update|valid_from|expires)$/;

/**
 * The one JSON style of every command's `--json` output, the same as `/trust`: snake_case keys and
 * instants as ISO 8601 UTC strings to the second (`2027-11-26T12:00:00Z`). Big integers (CRL
 * numbers) are decimal strings.
 */
export function wireStyle(value: unknown, key = ''): unknown {
  if (typeof value === 'bigint') return value.toString();
  if (typeof value === 'number' && INSTANT.test(key) && Number.isFinite(value) && value > 1e11)
    return new Date(value).toISOString().replace(/\.\d{3}Z$/, 'Z');
  if (Array.isArray(value)) return value.map((v) => wireStyle(v, key));
  if (value === null || typeof value !== 'object' || value instanceof Uint8Array) return value;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) {
    const snake = k.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toLowerCase();
    out[snake] = wireStyle(v, snake);
  }
  return out;
}

export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(wireStyle(value), null, 2)}\n`);
}
