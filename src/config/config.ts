/**
 * One typed, validated Config from environment variables. Every mistake becomes a ConfigError that
 * names the variable and what was wrong, so `serve` can stop with one line and exit code 2.
 * This room reads no files of trust material: it only says where they come from.
 */
import { isAbsolute, resolve } from 'node:path';
import type { LevelWithSilent } from 'pino';
import type { PolicyDocument } from '../policy/index.js';
import { redactUrl } from '../trust/sources/redact-url.js';
import { type CpuLimit, cpuLimit } from './cpu-limit.js';
import { GatewayConfigFileError, readGatewayConfigFile } from './gateway-config-file.js';

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  constructor(
    readonly variable: string,
    problem: string,
  ) {
    super(`${variable}: ${problem}`);
  }
}

/** Where a piece of trust material comes from. */
export type Source =
  | { readonly kind: 'file'; readonly path: string }
  | { readonly kind: 'secretsmanager'; readonly secretId: string }
  | { readonly kind: 'https'; readonly url: string }
  | { readonly kind: 's3'; readonly bucket: string; readonly key: string };

export type VerifyMode = 'strict' | 'explain';
export type IdentityHeaderFormat = 'gateway' | 'xfcc' | 'alb' | 'rfc9440' | 'forwarded';
export const IDENTITY_HEADER_FORMATS: readonly IdentityHeaderFormat[] = [
  'gateway',
  'xfcc',
  'alb',
  'rfc9440',
  'forwarded',
];

export interface ListenAddress {
  readonly host: string;
  readonly port: number;
}

export interface Config {
  readonly production: boolean;
  readonly listen: ListenAddress;
  readonly adminListen: ListenAddress;
  readonly serverCert: Source;
  readonly serverKey: Source;
  readonly caBundle: Source;
  readonly crls: readonly Source[];
  readonly upstream: URL;
  readonly configFile: string | undefined;
  /** The validated GATEWAY_CONFIG file (routes, partners, whoami), read at start; undefined without one. */
  readonly policyFile: { readonly document: PolicyDocument; readonly text: string } | undefined;
  /** Not production and every trust source left at its development default (`npm start`). */
  readonly devMode: boolean;
  readonly trustRefreshSeconds: number;
  /** The lock-out guard: refuse a rotation that would cut off more than this % of recent partners. */
  readonly rotationMaxRefusedPercent: number;
  readonly crlGraceSeconds: number;
  readonly crlRequired: boolean;
  readonly verifyMode: VerifyMode;
  readonly identityHeaders: readonly IdentityHeaderFormat[];
  /** `drop` (default): request headers with `_` or `.` in the name are dropped; `allow`: kept unless reserved. */
  readonly underscoreHeaders: 'drop' | 'allow';
  readonly proxyProtocol: 'off' | 'v2';
  readonly drainSeconds: number;
  readonly maxHeaderBytes: number;
  readonly maxHeaders: number;
  readonly logLevel: LevelWithSilent;
  /** Log line schema: `native` (the stable field names) or `ecs` (Elastic Common Schema 8.x). */
  readonly logFormat: LogFormat;
  /** Log bytes held while stdout cannot take them; lines beyond are dropped and counted. */
  readonly logBufferBytes: number;
  readonly handshakeTimeoutSeconds: number;
  readonly upstreamConnectTimeoutSeconds: number;
  readonly upstreamTimeoutSeconds: number;
  readonly limits: Limits;
  /** Worker processes sharing the TLS port (1 = no cluster). */
  readonly workers: number;
  /** Why that many (GATEWAY_WORKERS, the cgroup CPU quota, or development), for the start-up log. */
  readonly workersReason?: string;
}

/** Request and connection limits: each answers with its own status, or closes, logs and counts. */
export interface Limits {
  /** Request target longer than this: 414. */
  readonly maxUrlBytes: number;
  /** Request body larger than this: 413 (before forwarding when Content-Length says so). */
  readonly maxBodyBytes: number;
  /** The whole request must arrive within this: 408. */
  readonly requestTimeoutSeconds: number;
  /** Idle keep-alive connections close after this (keep it below the NLB's 350 s). */
  readonly keepAliveTimeoutSeconds: number;
  /** Open client connections per task; more are closed at accept. */
  readonly maxConnections: number;
  /** Accepted connections not yet verified (PROXY header or TLS handshake pending); more are closed at accept. */
  readonly maxHandshakingConnections: number;
  /** Verified connections per client identity (declared partner, else certificate); more are closed after the handshake. */
  readonly maxConnectionsPerClient: number;
  /** Requests on one connection; the last answer carries Connection: close (0 = no limit). */
  readonly maxRequestsPerConnection: number;
  /** After this, the next answer on a connection carries Connection: close. */
  readonly maxConnectionAgeSeconds: number;
}

type Env = Readonly<Record<string, string | undefined>>;

/** What a parser may need besides the text: where relative paths start, and whether this is production. */
interface ParseContext {
  readonly cwd: string;
  readonly production: boolean;
}

/**
 * One row of the configuration table. `default` is parsed exactly like a value the operator set,
 * so a default can never be something the parser would refuse; a row without one has no value
 * when unset (or one computed by loadConfig, e.g. GATEWAY_WORKERS). `shown` is the README's
 * default column when the parsed default alone would mislead.
 */
interface Setting<T> {
  readonly default: string;
  readonly shown?: string;
  /** Production refuses to start without it (development defaults are refused). */
  readonly requiredInProduction?: true;
  readonly parse: (variable: string, text: string, at: ParseContext) => T;
  /** The README's meaning column (Markdown). */
  readonly description: string;
}
interface OptionalSetting<T> extends Omit<Setting<T>, 'default'> {
  readonly default?: undefined;
  readonly shown: string;
}

type Parsed<S> = S extends Setting<infer T> ? T : S extends OptionalSetting<infer T> ? T | undefined : never;

function parseListen(variable: string, value: string): ListenAddress {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(value);
  const port = m ? Number(m[3]) : Number.NaN;
  if (!m || port > 65535) {
    throw new ConfigError(variable, `'${value}' is not host:port (e.g. 0.0.0.0:8443 or [::]:8443)`);
  }
  return { host: m[1] ?? m[2]!, port };
}

function parseSource(variable: string, value: string, cwd: string, allowRemote: boolean): Source {
  const text = value.trim();
  if (text === '')
    throw new ConfigError(variable, 'is empty; give a file path or secretsmanager:<name or ARN>');
  if (text.startsWith('secretsmanager:')) {
    const secretId = text.slice('secretsmanager:'.length);
    if (secretId === '')
      throw new ConfigError(variable, "'secretsmanager:' needs a secret name or ARN after it");
    return { kind: 'secretsmanager', secretId };
  }
  if (/^https:\/\//i.test(text) || /^s3:\/\//i.test(text)) {
    // Shown without userinfo or query: a presigned URL's signature must not reach stderr or logs.
    const shown = redactUrl(text);
    if (!allowRemote)
      throw new ConfigError(variable, `'${shown}': https:// and s3:// sources are for CRLs only`);
    if (text.toLowerCase().startsWith('https://')) {
      try {
        return { kind: 'https', url: new URL(text).toString() };
      } catch {
        throw new ConfigError(variable, `'${shown}' is not a valid URL`);
      }
    }
    const m = /^s3:\/\/([^/]+)\/(.+)$/i.exec(text);
    if (!m) throw new ConfigError(variable, `'${shown}' is not s3://bucket/key`);
    return { kind: 's3', bucket: m[1]!, key: m[2]! };
  }
  // `https:/host`, `s3:\\bucket`: a URL parser would read these as URLs, so they are never file paths.
  if (/^[a-z][a-z0-9+.-]+:[/\\]/i.test(text)) {
    if (/^(?:https|s3):/i.test(text))
      throw new ConfigError(variable, `'${redactUrl(text)}': write https:// or s3:// with two slashes`);
    throw new ConfigError(
      variable,
      `'${redactUrl(text)}': unsupported scheme (use a path, secretsmanager:, https:// or s3://)`,
    );
  }
  return { kind: 'file', path: isAbsolute(text) ? text : resolve(cwd, text) };
}

/** Production refuses the development PKI's files, whichever variable names them. */
function refuseDevMaterial(variable: string, s: Source, at: ParseContext): Source {
  if (at.production && s.kind === 'file' && /(^|[/\\])certs-dev([/\\]|$)/.test(s.path)) {
    throw new ConfigError(variable, `'${s.path}' is development material, refused when NODE_ENV=production`);
  }
  return s;
}

/** A server or CA source: a file or secretsmanager:, never a URL. */
function trustSource(variable: string, text: string, at: ParseContext): Source {
  return refuseDevMaterial(variable, parseSource(variable, text, at.cwd, false), at);
}

function crlSources(variable: string, value: string, at: ParseContext): readonly Source[] {
  const text = value.trim();
  if (text === 'none') return [];
  const crls = text
    .split(',')
    .map((part) => refuseDevMaterial(variable, parseSource(variable, part, at.cwd, true), at));
  // Sources are named redacted (logs, /trust): two that differ only in userinfo or query would look alike.
  const shownNames = new Set<string>();
  for (const s of crls) {
    if (s.kind !== 'https' && s.kind !== 's3') continue;
    const shown = redactUrl(s.kind === 'https' ? s.url : `s3://${s.bucket}/${s.key}`);
    if (shownNames.has(shown)) {
      throw new ConfigError(
        variable,
        `two sources are both '${shown}': they differ only in userinfo or query`,
      );
    }
    shownNames.add(shown);
  }
  return crls;
}

function upstreamOrigin(variable: string, text: string): URL {
  let upstream: URL;
  try {
    upstream = new URL(text);
  } catch {
    throw new ConfigError(variable, `'${redactUrl(text)}' is not a URL (e.g. http://10.0.1.5:8080)`);
  }
  if (upstream.protocol !== 'http:' && upstream.protocol !== 'https:') {
    throw new ConfigError(variable, `'${redactUrl(text)}' must be http:// or https://`);
  }
  if (upstream.pathname !== '/' || upstream.search || upstream.hash || upstream.username) {
    throw new ConfigError(variable, `'${redactUrl(text)}' must be an origin only (scheme://host:port)`);
  }
  return upstream;
}

type PolicyFile = { readonly document: PolicyDocument; readonly text: string };

/** The GATEWAY_CONFIG file, read and validated now; '' is no file, like unset. */
function policyFileAt(
  variable: string,
  text: string,
  at: ParseContext,
): { readonly path: string; readonly policy: PolicyFile } | undefined {
  if (text.startsWith('ssm:')) {
    // serve fetches the parameter into a file first (parameter-store.ts); nothing else may read it.
    throw new ConfigError(variable, 'an ssm: parameter is read by `serve` only (fetched before loading)');
  }
  if (text === '') return undefined;
  const path = resolve(at.cwd, text);
  try {
    return { path, policy: readGatewayConfigFile(path) };
  } catch (err) {
    if (!(err instanceof GatewayConfigFileError)) throw err;
    throw new ConfigError(variable, `${err.message} (in ${path})`);
  }
}

function wholeNumber(min: number, max: number) {
  return (variable: string, value: string): number => {
    const n = Number(value);
    if (value.trim() === '' || !Number.isInteger(n) || n < min || n > max) {
      throw new ConfigError(variable, `'${value}' is not a whole number between ${min} and ${max}`);
    }
    return n;
  };
}

function parseBoolean(variable: string, value: string): boolean {
  if (value === 'true') return true;
  if (value === 'false') return false;
  throw new ConfigError(variable, `'${value}' must be true or false`);
}

function oneOf<T extends string>(allowed: readonly T[]) {
  return (variable: string, value: string): T => {
    if ((allowed as readonly string[]).includes(value)) return value as T;
    throw new ConfigError(variable, `'${value}' must be one of ${allowed.join(', ')}`);
  };
}

function listOf<T extends string>(allowed: readonly T[]) {
  const one = oneOf(allowed);
  return (variable: string, value: string): readonly T[] => [
    ...new Set(value.split(',').map((f) => one(variable, f.trim()))),
  ];
}

const LOG_LEVELS: readonly LevelWithSilent[] = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];
export type LogFormat = 'native' | 'ecs';

const setting = <T>(row: Setting<T>): Setting<T> => row;
const optional = <T>(row: OptionalSetting<T>): OptionalSetting<T> => row;

/**
 * Every GATEWAY_* variable, in the README's order: its default, its parser (which names the
 * variable and what was wrong in a ConfigError) and its meaning. KNOWN_VARIABLES, loadConfig's
 * reads and the README's table (`npm run docs:config`) all come from here.
 */
export const SETTINGS = {
  GATEWAY_LISTEN: setting({
    default: '0.0.0.0:8443',
    parse: parseListen,
    description: 'TLS listener (`host:port`, `[::]:443`)',
  }),
  GATEWAY_ADMIN_LISTEN: setting({
    default: '127.0.0.1:9090',
    parse: parseListen,
    description: 'admin listener (plain HTTP)',
  }),
  GATEWAY_SERVER_CERT: setting({
    default: 'certs-dev/server.pem',
    requiredInProduction: true,
    parse: trustSource,
    description: 'server certificate chain (PEM): a source',
  }),
  GATEWAY_SERVER_KEY: setting({
    default: 'certs-dev/server-key.pem',
    requiredInProduction: true,
    parse: trustSource,
    description: 'server private key (PEM): a source',
  }),
  GATEWAY_CA_BUNDLE: setting({
    default: 'certs-dev/ca-bundle.pem',
    requiredInProduction: true,
    parse: trustSource,
    description: 'trusted client CAs (PEM): a source',
  }),
  GATEWAY_CRLS: setting({
    default: 'certs-dev/crl.pem',
    requiredInProduction: true,
    parse: crlSources,
    description:
      'comma-separated CRL sources (PEM or DER, several CRLs per file allowed; also `https://…` and `s3://bucket/key`); `none` for none',
  }),
  GATEWAY_UPSTREAM: setting({
    default: 'http://127.0.0.1:8081',
    requiredInProduction: true,
    parse: upstreamOrigin,
    description: 'upstream origin (`http://` or `https://`, no path)',
  }),
  GATEWAY_CONFIG: optional({
    shown: 'none',
    parse: policyFileAt,
    description:
      'JSON file, or `ssm:<parameter name>` in Parameter Store: routes, partners, whoami (see _Routes, partners and authorization_)',
  }),
  GATEWAY_TRUST_REFRESH_SECONDS: setting({
    default: '30',
    parse: wholeNumber(1, 86_400),
    description: 'source polling period (SIGHUP reloads at once)',
  }),
  GATEWAY_CRL_GRACE_SECONDS: setting({
    default: '0',
    parse: wholeNumber(0, 30 * 86_400),
    description: 'how long past nextUpdate a CRL still counts',
  }),
  GATEWAY_CRL_REQUIRED: setting({
    default: 'false',
    parse: parseBoolean,
    description: '`true`: refuse a client whose issuer has no CRL (`crl_missing`)',
  }),
  GATEWAY_VERIFY_MODE: setting({
    default: 'strict',
    parse: oneOf<VerifyMode>(['strict', 'explain']),
    description:
      "`strict`: a refused connection's first request gets the JSON 401/403 with `Connection: close`, then it closes (5 s to send it); `explain`: every request on it gets the JSON 401/403 and it stays open. Never forwarded in either",
  }),
  GATEWAY_IDENTITY_HEADERS: setting({
    default: 'gateway',
    parse: listOf(IDENTITY_HEADER_FORMATS),
    description: 'comma list of `gateway`, `xfcc`, `alb`, `rfc9440`, `forwarded` (RFC 7239)',
  }),
  GATEWAY_UNDERSCORE_HEADERS: setting({
    default: 'drop',
    parse: oneOf(['drop', 'allow'] as const),
    description:
      "`drop`: request headers with `_` or `.` in the name are removed (nginx's default); `allow`: kept, except any whose name with `_` and `.` read as `-` is an identity, forwarding, hop-by-hop or `Content-*` header",
  }),
  GATEWAY_PROXY_PROTOCOL: setting({
    default: 'off',
    parse: oneOf(['off', 'v2'] as const),
    description:
      '`v2`: every connection must start with a PROXY header (v2; v1 accepted), the client address then comes from it (logs, `X-Forwarded-For`); `off`: a connection that starts with one is refused, so a mismatched NLB target group fails loudly',
  }),
  GATEWAY_DRAIN_SECONDS: setting({
    default: '20',
    parse: wholeNumber(0, 3600),
    description: 'on SIGTERM, how long in-flight requests may finish',
  }),
  GATEWAY_MAX_HEADER_BYTES: setting({
    default: '16384',
    parse: wholeNumber(1024, 1_048_576),
    description: 'request header bytes (431 beyond)',
  }),
  GATEWAY_MAX_HEADERS: setting({
    default: '100',
    parse: wholeNumber(1, 10_000),
    description: 'request header count (431 beyond)',
  }),
  GATEWAY_LOG_LEVEL: setting({
    default: 'info',
    parse: oneOf(LOG_LEVELS),
    description: 'pino level: `fatal`, `error`, `warn`, `info`, `debug`, `trace` or `silent`',
  }),
  GATEWAY_LOG_FORMAT: setting({
    default: 'native',
    parse: oneOf<LogFormat>(['native', 'ecs']),
    description:
      'log line schema: `native` field names (the stable contract) or `ecs`, Elastic Common Schema 8.x (see [docs/logging.md](docs/logging.md))',
  }),
  GATEWAY_LOG_BUFFER_BYTES: setting({
    default: String(4 * 1_048_576),
    parse: wholeNumber(65_536, 256 * 1_048_576),
    description:
      'log bytes held while stdout is blocked; lines beyond are dropped and counted (`log_lines_dropped_total`)',
  }),
  GATEWAY_HANDSHAKE_TIMEOUT_SECONDS: setting({
    default: '10',
    parse: wholeNumber(1, 300),
    description: 'from accept, the PROXY header and TLS handshake must complete within this (`timeout`)',
  }),
  GATEWAY_UPSTREAM_CONNECT_TIMEOUT_SECONDS: setting({
    default: '5',
    parse: wholeNumber(1, 300),
    description: 'upstream connect timeout (504 beyond)',
  }),
  GATEWAY_UPSTREAM_TIMEOUT_SECONDS: setting({
    default: '30',
    parse: wholeNumber(1, 3600),
    description: 'upstream response headers / body idle timeout (504)',
  }),
  GATEWAY_MAX_URL_BYTES: setting({
    default: '8192',
    parse: wholeNumber(256, 65_536),
    description: 'request target longer than this: 414',
  }),
  GATEWAY_MAX_BODY_BYTES: setting({
    default: String(100 * 1024 * 1024),
    parse: wholeNumber(0, 2 ** 40),
    description:
      'request body larger than this: 413 (before forwarding when Content-Length says so; a chunked body is cut when it crosses the limit)',
  }),
  GATEWAY_REQUEST_TIMEOUT_SECONDS: setting({
    default: '60',
    parse: wholeNumber(1, 3600),
    description: 'the whole request must arrive within this: 408',
  }),
  GATEWAY_KEEPALIVE_TIMEOUT_SECONDS: setting({
    default: '60',
    parse: wholeNumber(1, 340),
    description:
      "idle keep-alive connections close after this (at most 340: below the NLB's 350 s idle timeout, so the gateway closes first)",
  }),
  GATEWAY_MAX_CONNECTIONS: setting({
    default: '10000',
    parse: wholeNumber(1, 1_000_000),
    description:
      'open client connections per task; more are closed at accept (`mtls_gateway_connections_refused_total{reason}`); checked at start against `ulimit -n` (needs about 2 per connection + 128, else a `warn`)',
  }),
  GATEWAY_MAX_HANDSHAKING_CONNECTIONS: setting({
    default: '512',
    parse: wholeNumber(1, 1_000_000),
    description:
      'accepted connections not yet verified (PROXY header or TLS handshake pending, including sockets that send nothing), counted from accept; when full, the oldest of those that have sent no byte yet is closed for each new one (`handshaking_evicted`), and a socket that has started its handshake is never evicted (with none silent, the newcomer is refused), so silent sockets cannot keep a partner out, even one mid-handshake; each is cut `GATEWAY_HANDSHAKE_TIMEOUT_SECONDS` after accept',
  }),
  GATEWAY_MAX_CONNECTIONS_PER_CLIENT: setting({
    default: '1000',
    parse: wholeNumber(1, 1_000_000),
    description:
      'verified connections per client identity (a declared partner, else issuer DN + `X-Client-Id` such as `cn:partner-b`, never per leaf), never per address: behind an NLB every partner shares a few; more are closed after the handshake (`max_connections_per_client`)',
  }),
  GATEWAY_MAX_REQUESTS_PER_CONNECTION: setting({
    default: '0',
    shown: '`0` (none)',
    parse: wholeNumber(0, 100_000_000),
    description: 'the last allowed answer carries `Connection: close` and the connection closes',
  }),
  GATEWAY_MAX_CONNECTION_AGE_SECONDS: setting({
    default: '3600',
    parse: wholeNumber(1, 7 * 86_400),
    description:
      'after this, the next answer on a connection carries `Connection: close` (clients reconnect and are verified afresh)',
  }),
  GATEWAY_WORKERS: optional({
    shown: '`1` (production: the cgroup CPU quota)',
    parse: wholeNumber(1, 64),
    description: 'worker processes sharing the TLS port; see "Cluster mode" below',
  }),
  GATEWAY_ROTATION_MAX_REFUSED_PERCENT: setting({
    default: '50',
    parse: wholeNumber(0, 100),
    description:
      'lock-out guard: a new CA bundle or CRL set that would refuse more than this % of partners active in the last 24 h is held back (see Trust rotation); `100` disables it',
  }),
} as const;

export type SettingName = keyof typeof SETTINGS;

/** Every variable loadConfig reads; any other GATEWAY_* variable is refused. */
export const KNOWN_VARIABLES: ReadonlySet<string> = new Set(Object.keys(SETTINGS));

/** The development defaults of the trust sources and listeners, straight from the table. */
export const DEV_DEFAULTS = {
  GATEWAY_LISTEN: SETTINGS.GATEWAY_LISTEN.default,
  GATEWAY_ADMIN_LISTEN: SETTINGS.GATEWAY_ADMIN_LISTEN.default,
  GATEWAY_SERVER_CERT: SETTINGS.GATEWAY_SERVER_CERT.default,
  GATEWAY_SERVER_KEY: SETTINGS.GATEWAY_SERVER_KEY.default,
  GATEWAY_CA_BUNDLE: SETTINGS.GATEWAY_CA_BUNDLE.default,
  GATEWAY_CRLS: SETTINGS.GATEWAY_CRLS.default,
  GATEWAY_UPSTREAM: SETTINGS.GATEWAY_UPSTREAM.default,
} as const;

/** One Markdown table row per setting, in table order: what `npm run docs:config` writes into the README. */
export function configTableMarkdown(): string {
  const cell = (text: string): string => text.replaceAll('|', '\\|');
  const rows = Object.entries(SETTINGS).map(
    ([name, row]: [string, Setting<unknown> | OptionalSetting<unknown>]) => {
      const shown = row.shown ?? `\`${row.default}\``;
      return `| \`${name}\` | ${cell(shown)} | ${cell(row.description)} |`;
    },
  );
  return ['| variable | default (dev) | meaning |', '| --- | --- | --- |', ...rows].join('\n');
}

/**
 * Production defaults to one worker per CPU the task may use (its cgroup quota, not the CPUs it
 * sees); development and tests stay in one process.
 */
function workersOf(
  explicit: number | undefined,
  production: boolean,
  cpu: () => CpuLimit,
): { workers: number; workersReason: string } {
  if (explicit !== undefined) return { workers: explicit, workersReason: 'GATEWAY_WORKERS' };
  if (!production) return { workers: 1, workersReason: 'development default (one process)' };
  const limit = cpu();
  return { workers: Math.min(64, limit.cpus), workersReason: limit.reason };
}

/**
 * Builds the Config from `env`. Unknown GATEWAY_* variables are refused too: a typo such as
 * GATEWAY_CRL_REQUIERD=true must not silently leave a security control off.
 * `cpu` says how many CPUs the process may use (production's default GATEWAY_WORKERS); tests pass
 * one over a fake cgroup tree.
 */
export function loadConfig(env: Env, cwd: string = process.cwd(), cpu: () => CpuLimit = cpuLimit): Config {
  const production = env.NODE_ENV === 'production';
  for (const name of Object.keys(env)) {
    if (name.startsWith('GATEWAY_') && !KNOWN_VARIABLES.has(name)) {
      throw new ConfigError(name, 'is not a known setting (see the configuration table in README.md)');
    }
  }
  if (production) {
    for (const [name, row] of Object.entries(SETTINGS)) {
      if ('requiredInProduction' in row && (env[name] === undefined || env[name] === '')) {
        throw new ConfigError(
          name,
          'is required when NODE_ENV=production (development defaults are refused)',
        );
      }
    }
  }
  const at: ParseContext = { cwd, production };
  const value = <K extends SettingName>(name: K): Parsed<(typeof SETTINGS)[K]> => {
    const row: Setting<unknown> | OptionalSetting<unknown> = SETTINGS[name];
    const text = env[name] ?? row.default;
    return (text === undefined ? undefined : row.parse(name, text, at)) as Parsed<(typeof SETTINGS)[K]>;
  };

  const policy = value('GATEWAY_CONFIG');
  return {
    production,
    listen: value('GATEWAY_LISTEN'),
    adminListen: value('GATEWAY_ADMIN_LISTEN'),
    serverCert: value('GATEWAY_SERVER_CERT'),
    serverKey: value('GATEWAY_SERVER_KEY'),
    caBundle: value('GATEWAY_CA_BUNDLE'),
    crls: value('GATEWAY_CRLS'),
    upstream: value('GATEWAY_UPSTREAM'),
    configFile: policy?.path,
    policyFile: policy?.policy,
    devMode:
      !production &&
      (['GATEWAY_SERVER_CERT', 'GATEWAY_SERVER_KEY', 'GATEWAY_CA_BUNDLE'] as const).every(
        (name) => env[name] === undefined,
      ),
    trustRefreshSeconds: value('GATEWAY_TRUST_REFRESH_SECONDS'),
    rotationMaxRefusedPercent: value('GATEWAY_ROTATION_MAX_REFUSED_PERCENT'),
    crlGraceSeconds: value('GATEWAY_CRL_GRACE_SECONDS'),
    crlRequired: value('GATEWAY_CRL_REQUIRED'),
    verifyMode: value('GATEWAY_VERIFY_MODE'),
    identityHeaders: value('GATEWAY_IDENTITY_HEADERS'),
    underscoreHeaders: value('GATEWAY_UNDERSCORE_HEADERS'),
    proxyProtocol: value('GATEWAY_PROXY_PROTOCOL'),
    drainSeconds: value('GATEWAY_DRAIN_SECONDS'),
    maxHeaderBytes: value('GATEWAY_MAX_HEADER_BYTES'),
    maxHeaders: value('GATEWAY_MAX_HEADERS'),
    logLevel: value('GATEWAY_LOG_LEVEL'),
    logFormat: value('GATEWAY_LOG_FORMAT'),
    logBufferBytes: value('GATEWAY_LOG_BUFFER_BYTES'),
    handshakeTimeoutSeconds: value('GATEWAY_HANDSHAKE_TIMEOUT_SECONDS'),
    upstreamConnectTimeoutSeconds: value('GATEWAY_UPSTREAM_CONNECT_TIMEOUT_SECONDS'),
    upstreamTimeoutSeconds: value('GATEWAY_UPSTREAM_TIMEOUT_SECONDS'),
    ...workersOf(value('GATEWAY_WORKERS'), production, cpu),
    limits: {
      maxUrlBytes: value('GATEWAY_MAX_URL_BYTES'),
      maxBodyBytes: value('GATEWAY_MAX_BODY_BYTES'),
      requestTimeoutSeconds: value('GATEWAY_REQUEST_TIMEOUT_SECONDS'),
      keepAliveTimeoutSeconds: value('GATEWAY_KEEPALIVE_TIMEOUT_SECONDS'),
      maxConnections: value('GATEWAY_MAX_CONNECTIONS'),
      maxHandshakingConnections: value('GATEWAY_MAX_HANDSHAKING_CONNECTIONS'),
      maxConnectionsPerClient: value('GATEWAY_MAX_CONNECTIONS_PER_CLIENT'),
      maxRequestsPerConnection: value('GATEWAY_MAX_REQUESTS_PER_CONNECTION'),
      maxConnectionAgeSeconds: value('GATEWAY_MAX_CONNECTION_AGE_SECONDS'),
    },
  };
}
