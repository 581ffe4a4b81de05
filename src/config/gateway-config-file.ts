/**
 * Reads and validates the JSON file named by `GATEWAY_CONFIG` into a PolicyDocument. Every mistake
 * names the JSON path that holds it (`routes[2].upstream: …`), and unknown keys are refused, so a
 * typo cannot silently leave a route open. At start a bad file is a configuration error (exit 2);
 * on reload the caller keeps the policy in force.
 */
import { readFileSync } from 'node:fs';
import {
  ANY_PARTNER,
  compileUriPattern,
  HTTP_METHODS,
  MATCH_FIELDS,
  normaliseFingerprint,
  normaliseSpkiPin,
  normalizeRequestPath,
  PARTNER_ID_PATTERN,
  type PartnerMatchSpec,
  type PartnerSpec,
  type PolicyDocument,
  ROUTE_NAME_PATTERN,
  type RouteSpec,
  UNDECLARED_ID_PREFIX,
  UNDECLARED_PARTNER_LABEL,
} from '../policy/index.js';
import { redactUrl } from '../trust/sources/redact-url.js';

export class GatewayConfigFileError extends Error {
  override readonly name = 'GatewayConfigFileError';
  constructor(
    /** JSON path of the offending value (`routes[2].upstream`), or `(file)` for the file itself. */
    readonly jsonPath: string,
    readonly problem: string,
  ) {
    super(`${jsonPath}: ${problem}`);
  }
}

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type JsonObject = { [key: string]: Json };

const fail = (path: string, problem: string): never => {
  throw new GatewayConfigFileError(path, problem);
};

const show = (v: Json | undefined): string => {
  const text = JSON.stringify(v) ?? 'undefined';
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
};

function isObject(v: Json | undefined): v is JsonObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function object(v: Json | undefined, path: string, allowed: readonly string[]): JsonObject {
  if (!isObject(v)) return fail(path, `must be an object, got ${show(v)}`);
  for (const key of Object.keys(v)) {
    if (!allowed.includes(key)) fail(`${path}.${key}`, `is not a known key (known: ${allowed.join(', ')})`);
  }
  return v;
}

function string(v: Json | undefined, path: string): string {
  if (typeof v !== 'string' || v === '') return fail(path, `must be a non-empty string, got ${show(v)}`);
  return v;
}

function boolean(v: Json | undefined, path: string): boolean {
  if (typeof v !== 'boolean') return fail(path, `must be true or false, got ${show(v)}`);
  return v;
}

/** A string or a non-empty array of strings, each checked by `check` (which may normalise). */
function stringList(v: Json | undefined, path: string, check: (s: string) => void = () => {}): string[] {
  const items = typeof v === 'string' ? [v] : v;
  if (!Array.isArray(items) || items.length === 0) {
    return fail(path, `must be a string or a non-empty array of strings, got ${show(v)}`);
  }
  return items.map((item, i) => {
    const at = typeof v === 'string' ? path : `${path}[${i}]`;
    const s = string(item, at);
    try {
      check(s);
    } catch (err) {
      fail(at, (err as Error).message);
    }
    return s;
  });
}

function matchSpec(v: Json | undefined, path: string): PartnerMatchSpec {
  const o = object(v, path, MATCH_FIELDS);
  const spec: Record<string, string[]> = {};
  for (const field of MATCH_FIELDS) {
    if (o[field] === undefined) continue;
    const at = `${path}.${field}`;
    switch (field) {
      case 'sanUri':
        spec[field] = stringList(o[field], at, (s) => void compileUriPattern(s));
        break;
      case 'fingerprintSha256':
        spec[field] = stringList(o[field], at, (s) => void normaliseFingerprint(s));
        break;
      case 'spkiSha256':
        spec[field] = stringList(o[field], at, (s) => void normaliseSpkiPin(s));
        break;
      case 'issuer':
        spec[field] = stringList(o[field], at, (s) => {
          if (!s.includes('=')) throw new Error(`'${s}' is not a DN in RFC 2253 form (CN=…,O=…)`);
        });
        break;
      case 'sanDns':
        spec[field] = stringList(o[field], at, (s) => {
          if (s.slice(s.startsWith('*.') ? 2 : 0).includes('*')) {
            throw new Error(`'${s}': only a leftmost '*.' wildcard is allowed`);
          }
        });
        break;
      default:
        spec[field] = stringList(o[field], at);
    }
  }
  if (Object.keys(spec).length === 0) {
    fail(path, `needs at least one of ${MATCH_FIELDS.join(', ')} (an empty matcher would match everyone)`);
  }
  return spec;
}

function partners(v: Json | undefined): PartnerSpec[] {
  if (v === undefined) return [];
  if (!Array.isArray(v)) return fail('partners', `must be an array, got ${show(v)}`);
  const seen = new Set<string>();
  return v.map((item, i) => {
    const path = `partners[${i}]`;
    const o = object(item, path, ['id', 'match', 'comment']);
    const id = string(o.id, `${path}.id`);
    if (!PARTNER_ID_PATTERN.test(id) || id === UNDECLARED_PARTNER_LABEL || UNDECLARED_ID_PREFIX.test(id)) {
      fail(
        `${path}.id`,
        `'${id}' must be 1-64 characters of [A-Za-z0-9._:@-], starting with a letter or digit, not '${UNDECLARED_PARTNER_LABEL}' and not starting with 'cn:' or 'subject:' (the X-Client-Id of undeclared certificates)`,
      );
    }
    if (seen.has(id)) fail(`${path}.id`, `'${id}' is declared twice`);
    seen.add(id);
    const m = o.match;
    if (m === undefined) fail(`${path}.match`, 'is required: say how to recognise this partner');
    const alternatives = Array.isArray(m) ? m : [m ?? null];
    if (alternatives.length === 0) fail(`${path}.match`, 'must not be an empty array');
    return {
      id,
      match: alternatives.map((a, j) =>
        matchSpec(a, Array.isArray(m) ? `${path}.match[${j}]` : `${path}.match`),
      ),
    };
  });
}

function origin(v: Json | undefined, path: string): string {
  const text = string(v, path);
  // Quoted without userinfo or query: an upstream URL may carry a password.
  const shown = redactUrl(text);
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return fail(path, `'${shown}' is not a URL (e.g. http://10.0.1.5:8080)`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    fail(path, `'${shown}' must be http:// or https://`);
  if (url.pathname !== '/' || url.search || url.hash || url.username || url.password) {
    fail(path, `'${shown}' must be an origin only (scheme://host:port), without path or query`);
  }
  return url.origin;
}

function routes(v: Json | undefined, declared: ReadonlySet<string>): RouteSpec[] {
  if (v === undefined) return [];
  if (!Array.isArray(v)) return fail('routes', `must be an array, got ${show(v)}`);
  const names = new Set<string>();
  const out: RouteSpec[] = [];
  v.forEach((item, i) => {
    const path = `routes[${i}]`;
    const o = object(item, path, ['name', 'prefix', 'methods', 'upstream', 'allow', 'comment']);
    const name = string(o.name, `${path}.name`);
    if (!ROUTE_NAME_PATTERN.test(name)) {
      fail(`${path}.name`, `'${name}' must be 1-64 characters of [A-Za-z0-9._-] (it becomes a metric label)`);
    }
    if (names.has(name)) fail(`${path}.name`, `'${name}' is used by another route`);
    names.add(name);
    const prefix = string(o.prefix, `${path}.prefix`);
    // Requests are routed in normalizeRequestPath's form: a prefix in any other form would never match.
    const normal = normalizeRequestPath(prefix, true);
    if (/[?#*\s]/.test(prefix) || !normal.ok || normal.path !== prefix) {
      fail(
        `${path}.prefix`,
        `'${prefix}' must be a plain normalized path starting with '/' (no query, wildcard, ';', dot segment, '//' or escape of an unreserved character)`,
      );
    }
    let methods: string[] | undefined;
    if (o.methods !== undefined) {
      methods = stringList(o.methods, `${path}.methods`, (m) => {
        if (!(HTTP_METHODS as readonly string[]).includes(m)) {
          throw new Error(`'${m}' is not one of ${HTTP_METHODS.join(', ')}`);
        }
      });
    }
    for (const other of out) {
      // Prefixes match ignoring ASCII case (route-table.ts): `/Admin` and `/admin` are one prefix.
      if (other.prefix.toLowerCase() !== prefix.toLowerCase()) continue;
      const overlap = !methods || !other.methods || methods.some((m) => other.methods?.includes(m));
      if (overlap) {
        fail(`${path}.methods`, `route '${other.name}' already claims prefix '${prefix}' for these methods`);
      }
    }
    if (o.allow === undefined) fail(`${path}.allow`, `is required: partner ids, or ["${ANY_PARTNER}"]`);
    const allow = Array.isArray(o.allow) && o.allow.length === 0 ? [] : stringList(o.allow, `${path}.allow`);
    allow.forEach((id, j) => {
      if (id !== ANY_PARTNER && !declared.has(id)) {
        fail(`${path}.allow[${j}]`, `'${id}' is not a partner id declared in partners`);
      }
    });
    const spec: RouteSpec = {
      name,
      prefix,
      allow,
      ...(methods ? { methods } : {}),
      ...(o.upstream === undefined ? {} : { upstream: origin(o.upstream, `${path}.upstream`) }),
    };
    out.push(spec);
  });
  return out;
}

/** Validates the parsed JSON of the file. */
export function policyDocumentFromJson(value: Json): PolicyDocument {
  const top = object(value, '(top level)', [
    '$schema',
    'comment',
    'partners',
    'routes',
    'requireDeclaredPartners',
    'whoami',
  ]);
  const p = partners(top.partners);
  const doc: PolicyDocument = {
    partners: p,
    routes: routes(top.routes, new Set(p.map((x) => x.id))),
    requireDeclaredPartners:
      top.requireDeclaredPartners === undefined
        ? false
        : boolean(top.requireDeclaredPartners, 'requireDeclaredPartners'),
    ...(top.whoami === undefined ? {} : { whoami: boolean(top.whoami, 'whoami') }),
  };
  return doc;
}

/** Parses the file's text; a syntax error names the line and column. */
export function parseGatewayConfig(text: string): PolicyDocument {
  let value: Json;
  try {
    value = JSON.parse(text) as Json;
  } catch (err) {
    const message = (err as Error).message;
    const pos = /position (\d+)/.exec(message);
    let where = '';
    if (pos) {
      const before = text.slice(0, Number(pos[1]));
      const line = before.split('\n').length;
      where = ` at line ${line} column ${Number(pos[1]) - before.lastIndexOf('\n')}`;
    }
    return fail('(file)', `is not valid JSON${where}: ${message.replace(/ in JSON at position.*$/, '')}`);
  }
  return policyDocumentFromJson(value);
}

/** Reads and validates the file (synchronously: it is read at start and on reload only). */
export function readGatewayConfigFile(path: string): { document: PolicyDocument; text: string } {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    return fail('(file)', `cannot be read: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  return { document: parseGatewayConfig(text), text };
}
