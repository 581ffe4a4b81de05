/**
 * SAN URI patterns as ghostunnel's `--allow-uri` takes them: the pattern is compared segment by
 * segment, where a `*` segment matches exactly one non-empty path segment and a `**` segment matches
 * one or more. Wildcards are whole segments only, and only after the authority, so a pattern can
 * never widen the scheme or host (`spiffe://*.example/...` is refused at load time). Everything else
 * is compared exactly (case-sensitive, no decoding), so two spellings of one URI never collide.
 */

export interface UriPattern {
  readonly source: string;
  matches(uri: string): boolean;
}

/** Throws with a sentence when `pattern` is not a valid pattern. */
export function compileUriPattern(pattern: string): UriPattern {
  const m = /^([a-z][a-z0-9+.-]*):\/\/([^/]*)(\/.*)?$/i.exec(pattern);
  if (!m) throw new Error(`'${pattern}' is not a URI pattern of the form scheme://authority/path`);
  const prefix = `${m[1]}://${m[2]}`;
  if (prefix.includes('*')) throw new Error(`'${pattern}': wildcards are allowed in the path only`);
  const path = m[3] ?? '';
  const segments = path === '' ? [] : path.slice(1).split('/');
  for (const s of segments) {
    if (s.includes('*') && s !== '*' && s !== '**') {
      throw new Error(`'${pattern}': a wildcard must be a whole path segment ('*' or '**')`);
    }
  }
  if (!segments.some((s) => s === '*' || s === '**')) {
    return { source: pattern, matches: (uri) => uri === pattern };
  }
  return {
    source: pattern,
    matches(uri: string): boolean {
      if (!uri.startsWith(`${prefix}/`)) return false;
      return matchSegments(segments, 0, uri.slice(prefix.length + 1).split('/'), 0);
    },
  };
}

function matchSegments(
  pattern: readonly string[],
  pi: number,
  value: readonly string[],
  vi: number,
): boolean {
  if (pi === pattern.length) return vi === value.length;
  const p = pattern[pi]!;
  if (p === '**') {
    // One or more non-empty segments, then the rest of the pattern.
    for (let end = vi + 1; end <= value.length; end++) {
      if (value[end - 1] === '') return false;
      if (matchSegments(pattern, pi + 1, value, end)) return true;
    }
    return false;
  }
  if (vi >= value.length) return false;
  const v = value[vi]!;
  if (p === '*' ? v === '' : p !== v) return false;
  return matchSegments(pattern, pi + 1, value, vi + 1);
}
