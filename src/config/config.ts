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

/** Development defaults (design.md); production requires every source to be named explicitly. */
export const DEV_DEFAULTS = {
  GATEWAY_LISTEN: '0.0.0.0:8443',
  GATEWAY_ADMIN_LISTEN: '127.0.0.1:9090',
  GATEWAY_SERVER_CERT: 'certs-dev/server.pem',
  GATEWAY_SERVER_KEY: 'certs-dev/server-key.pem',
  GATEWAY_CA_BUNDLE: 'certs-dev/ca-bundle.pem',
  GATEWAY_CRLS: 'certs-dev/crl.pem',
  GATEWAY_UPSTREAM: 'http://127.0.0.1:8081',
} as const;

const REQUIRED_IN_PRODUCTION = [
  'GATEWAY_SERVER_CERT',
  'GATEWAY_SERVER_KEY',
  'GATEWAY_CA_BUNDLE',
  'GATEWAY_CRLS',
  'GATEWAY_UPSTREAM',
] as const;

const LOG_LEVELS: readonly LevelWithSilent[] = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

type Env = Readonly<Record<string, string | undefined>>;

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

function parseNumber(variable: string, value: string, min: number, max: number, integer = true): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || (integer && !Number.isInteger(n)) || n < min || n > max) {
    throw new ConfigError(
      variable,
      `'${value}' is not ${integer ? 'a whole number' : 'a number'} between ${min} and ${max}`,
    );
  }
  return n;
}

function parseBoolean(variable: string, value: string): boolean {
  if (value === 'true') return true;
  if (value === 'false') return false;
  throw new ConfigError(variable, `'${value}' must be true or false`);
}

function parseEnum<T extends string>(variable: string, value: string, allowed: readonly T[]): T {
  if ((allowed as readonly string[]).includes(value)) return value as T;
  throw new ConfigError(variable, `'${value}' must be one of ${allowed.join(', ')}`);
}

/**
 * Builds the Config from `env`. Unknown GATEWAY_* variables are refused too: a typo such as
 * GATEWAY_CRL_REQUIERD=true must not silently leave a security control off.
 */
/**
 * Production defaults to one worker per CPU the task may use (its cgroup quota, not the CPUs it
 * sees); development and tests stay in one process.
 */
function workersOf(
  env: Env,
  production: boolean,
  cpu: () => CpuLimit,
  num: (name: string, fallback: number, min: number, max: number) => number,
): { workers: number; workersReason: string } {
  if (env.GATEWAY_WORKERS !== undefined)
    return { workers: num('GATEWAY_WORKERS', 1, 1, 64), workersReason: 'GATEWAY_WORKERS' };
  if (!production) return { workers: 1, workersReason: 'development default (one process)' };
  const limit = cpu();
  return { workers: Math.min(64, limit.cpus), workersReason: limit.reason };
}

/**
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
  const get = (name: string, fallback: string): string => env[name] ?? fallback;
  if (production) {
    for (const name of REQUIRED_IN_PRODUCTION) {
      if (env[name] === undefined || env[name] === '') {
        throw new ConfigError(
          name,
          'is required when NODE_ENV=production (development defaults are refused)',
        );
      }
    }
  }
  const source = (name: keyof typeof DEV_DEFAULTS): Source => {
    const s = parseSource(name, get(name, DEV_DEFAULTS[name]), cwd, false);
    if (production && s.kind === 'file' && /(^|[/\\])certs-dev([/\\]|$)/.test(s.path)) {
      throw new ConfigError(name, `'${s.path}' is development material, refused when NODE_ENV=production`);
    }
    return s;
  };

  const crlText = get('GATEWAY_CRLS', DEV_DEFAULTS.GATEWAY_CRLS).trim();
  const crls =
    crlText === 'none'
      ? []
      : crlText.split(',').map((part) => {
          const s = parseSource('GATEWAY_CRLS', part, cwd, true);
          if (production && s.kind === 'file' && /(^|[/\\])certs-dev([/\\]|$)/.test(s.path)) {
            throw new ConfigError(
              'GATEWAY_CRLS',
              `'${s.path}' is development material, refused in production`,
            );
          }
          return s;
        });
  // Sources are named redacted (logs, /trust): two that differ only in userinfo or query would look alike.
  const crlNames = new Set<string>();
  for (const s of crls) {
    if (s.kind !== 'https' && s.kind !== 's3') continue;
    const shown = redactUrl(s.kind === 'https' ? s.url : `s3://${s.bucket}/${s.key}`);
    if (crlNames.has(shown)) {
      throw new ConfigError(
        'GATEWAY_CRLS',
        `two sources are both '${shown}': they differ only in userinfo or query`,
      );
    }
    crlNames.add(shown);
  }

  const upstreamText = get('GATEWAY_UPSTREAM', DEV_DEFAULTS.GATEWAY_UPSTREAM);
  let upstream: URL;
  try {
    upstream = new URL(upstreamText);
  } catch {
    throw new ConfigError(
      'GATEWAY_UPSTREAM',
      `'${redactUrl(upstreamText)}' is not a URL (e.g. http://10.0.1.5:8080)`,
    );
  }
  if (upstream.protocol !== 'http:' && upstream.protocol !== 'https:') {
    throw new ConfigError('GATEWAY_UPSTREAM', `'${redactUrl(upstreamText)}' must be http:// or https://`);
  }
  if (upstream.pathname !== '/' || upstream.search || upstream.hash || upstream.username) {
    throw new ConfigError(
      'GATEWAY_UPSTREAM',
      `'${redactUrl(upstreamText)}' must be an origin only (scheme://host:port)`,
    );
  }

  const formatsText = get('GATEWAY_IDENTITY_HEADERS', 'gateway');
  const identityHeaders = [
    ...new Set(
      formatsText
        .split(',')
        .map((f) => parseEnum('GATEWAY_IDENTITY_HEADERS', f.trim(), IDENTITY_HEADER_FORMATS)),
    ),
  ];

  if (env.GATEWAY_CONFIG?.startsWith('ssm:')) {
    // serve fetches the parameter into a file first (parameter-store.ts); nothing else may read it.
    throw new ConfigError(
      'GATEWAY_CONFIG',
      'an ssm: parameter is read by `serve` only (fetched before loading)',
    );
  }
  const configFile = env.GATEWAY_CONFIG ? resolve(cwd, env.GATEWAY_CONFIG) : undefined;
  let policyFile: Config['policyFile'];
  try {
    policyFile = configFile ? readGatewayConfigFile(configFile) : undefined;
  } catch (err) {
    if (!(err instanceof GatewayConfigFileError)) throw err;
    throw new ConfigError('GATEWAY_CONFIG', `${err.message} (in ${configFile})`);
  }
  const devMode =
    !production &&
    (['GATEWAY_SERVER_CERT', 'GATEWAY_SERVER_KEY', 'GATEWAY_CA_BUNDLE'] as const).every(
      (name) => env[name] === undefined,
    );
  const num = (name: string, fallback: number, min: number, max: number): number =>
    env[name] === undefined ? fallback : parseNumber(name, env[name]!, min, max);

  return {
    production,
    listen: parseListen('GATEWAY_LISTEN', get('GATEWAY_LISTEN', DEV_DEFAULTS.GATEWAY_LISTEN)),
    adminListen: parseListen(
      'GATEWAY_ADMIN_LISTEN',
      get('GATEWAY_ADMIN_LISTEN', DEV_DEFAULTS.GATEWAY_ADMIN_LISTEN),
    ),
    serverCert: source('GATEWAY_SERVER_CERT'),
    serverKey: source('GATEWAY_SERVER_KEY'),
    caBundle: source('GATEWAY_CA_BUNDLE'),
    crls,
    upstream,
    configFile,
    policyFile,
    devMode,
    trustRefreshSeconds: num('GATEWAY_TRUST_REFRESH_SECONDS', 30, 1, 86_400),
    rotationMaxRefusedPercent: num('GATEWAY_ROTATION_MAX_REFUSED_PERCENT', 50, 0, 100),
    crlGraceSeconds: num('GATEWAY_CRL_GRACE_SECONDS', 0, 0, 30 * 86_400),
    crlRequired: parseBoolean('GATEWAY_CRL_REQUIRED', get('GATEWAY_CRL_REQUIRED', 'false')),
    verifyMode: parseEnum('GATEWAY_VERIFY_MODE', get('GATEWAY_VERIFY_MODE', 'strict'), ['strict', 'explain']),
    identityHeaders,
    underscoreHeaders: parseEnum('GATEWAY_UNDERSCORE_HEADERS', get('GATEWAY_UNDERSCORE_HEADERS', 'drop'), [
      'drop',
      'allow',
    ]),
    proxyProtocol: parseEnum('GATEWAY_PROXY_PROTOCOL', get('GATEWAY_PROXY_PROTOCOL', 'off'), ['off', 'v2']),
    drainSeconds: num('GATEWAY_DRAIN_SECONDS', 20, 0, 3600),
    maxHeaderBytes: num('GATEWAY_MAX_HEADER_BYTES', 16_384, 1024, 1_048_576),
    maxHeaders: num('GATEWAY_MAX_HEADERS', 100, 1, 10_000),
    logLevel: parseEnum('GATEWAY_LOG_LEVEL', get('GATEWAY_LOG_LEVEL', 'info'), LOG_LEVELS),
    logBufferBytes: num('GATEWAY_LOG_BUFFER_BYTES', 4 * 1_048_576, 65_536, 256 * 1_048_576),
    handshakeTimeoutSeconds: num('GATEWAY_HANDSHAKE_TIMEOUT_SECONDS', 10, 1, 300),
    upstreamConnectTimeoutSeconds: num('GATEWAY_UPSTREAM_CONNECT_TIMEOUT_SECONDS', 5, 1, 300),
    upstreamTimeoutSeconds: num('GATEWAY_UPSTREAM_TIMEOUT_SECONDS', 30, 1, 3600),
    ...workersOf(env, production, cpu, num),
    limits: {
      maxUrlBytes: num('GATEWAY_MAX_URL_BYTES', 8192, 256, 65_536),
      maxBodyBytes: num('GATEWAY_MAX_BODY_BYTES', 100 * 1024 * 1024, 0, 2 ** 40),
      requestTimeoutSeconds: num('GATEWAY_REQUEST_TIMEOUT_SECONDS', 60, 1, 3600),
      keepAliveTimeoutSeconds: num('GATEWAY_KEEPALIVE_TIMEOUT_SECONDS', 60, 1, 340),
      maxConnections: num('GATEWAY_MAX_CONNECTIONS', 10_000, 1, 1_000_000),
      maxHandshakingConnections: num('GATEWAY_MAX_HANDSHAKING_CONNECTIONS', 512, 1, 1_000_000),
      maxConnectionsPerClient: num('GATEWAY_MAX_CONNECTIONS_PER_CLIENT', 1_000, 1, 1_000_000),
      maxRequestsPerConnection: num('GATEWAY_MAX_REQUESTS_PER_CONNECTION', 0, 0, 100_000_000),
      maxConnectionAgeSeconds: num('GATEWAY_MAX_CONNECTION_AGE_SECONDS', 3600, 1, 7 * 86_400),
    },
  };
}

const KNOWN_VARIABLES = new Set([
  'GATEWAY_WORKERS',
  'GATEWAY_MAX_URL_BYTES',
  'GATEWAY_MAX_BODY_BYTES',
  'GATEWAY_REQUEST_TIMEOUT_SECONDS',
  'GATEWAY_KEEPALIVE_TIMEOUT_SECONDS',
  'GATEWAY_MAX_CONNECTIONS',
  'GATEWAY_MAX_CONNECTIONS_PER_CLIENT',
  'GATEWAY_MAX_HANDSHAKING_CONNECTIONS',
  'GATEWAY_MAX_REQUESTS_PER_CONNECTION',
  'GATEWAY_MAX_CONNECTION_AGE_SECONDS',
  'GATEWAY_LISTEN',
  'GATEWAY_ADMIN_LISTEN',
  'GATEWAY_SERVER_CERT',
  'GATEWAY_SERVER_KEY',
  'GATEWAY_CA_BUNDLE',
  'GATEWAY_CRLS',
  'GATEWAY_UPSTREAM',
  'GATEWAY_CONFIG',
  'GATEWAY_TRUST_REFRESH_SECONDS',
  'GATEWAY_CRL_GRACE_SECONDS',
  'GATEWAY_CRL_REQUIRED',
  'GATEWAY_VERIFY_MODE',
  'GATEWAY_IDENTITY_HEADERS',
  'GATEWAY_UNDERSCORE_HEADERS',
  'GATEWAY_PROXY_PROTOCOL',
  'GATEWAY_DRAIN_SECONDS',
  'GATEWAY_MAX_HEADER_BYTES',
  'GATEWAY_MAX_HEADERS',
  'GATEWAY_LOG_LEVEL',
  'GATEWAY_LOG_BUFFER_BYTES',
  'GATEWAY_HANDSHAKE_TIMEOUT_SECONDS',
  'GATEWAY_UPSTREAM_CONNECT_TIMEOUT_SECONDS',
  'GATEWAY_UPSTREAM_TIMEOUT_SECONDS',
  'GATEWAY_ROTATION_MAX_REFUSED_PERCENT',
]);
