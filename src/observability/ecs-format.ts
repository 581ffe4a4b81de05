/**
 * Elastic Common Schema (ECS 8.x) for the log lines, `GATEWAY_LOG_FORMAT=ecs`: one declarative
 * table, per event, from each native field to the ECS field(s) it becomes (with its unit
 * conversion), and the categorization fields (`event.kind`, `event.category`, `event.type`,
 * `event.outcome`) derived from the native line. Pure: no I/O, no pino; logger.ts applies it.
 *
 * What has no ECS field goes under our custom namespace `mtls_gateway.*` (ECS: custom fields go
 * under a namespace of their own), event-specific ones under `mtls_gateway.<event>.*` so that one
 * name never holds two types. A field missing from the table is never dropped: it is written
 * under `mtls_gateway.<event>.<field>` as it is (and test/observability/ecs-format.test.ts fails,
 * so that it gets a row and a line in docs/logging.md).
 *
 * The output is nested objects, except `log.level`, `ecs.version` and the pino bindings
 * (`service.name`, `service.node.name`, `process.pid`, `labels.*`), which are top-level dotted
 * names as the ECS logging specification (and @elastic/ecs-pino-format) writes them: bindings
 * are serialized by pino apart from the line, so a nested object there would repeat a key. The
 * line table therefore never writes under `service`, `process`, `labels`, `log` or `ecs`.
 */

export const ECS_VERSION = '8.11.0';

/** The `event` kinds the gateway logs (`grep -rn "event: '" src`). */
export const LOG_EVENTS = [
  'handshake',
  'request',
  'connection',
  'internal_error',
  'trust',
  'policy',
  'lifecycle',
] as const;
export type LogEvent = (typeof LOG_EVENTS)[number];

export interface FieldMapping {
  /** The ECS field(s) the value is written to, dotted (`mtls_gateway.*`: our namespace). */
  readonly to: readonly string[];
  /** The ECS type, and the unit or conversion when not the native value as it is (docs/logging.md). */
  readonly type: string;
  /** The value for each of `to`, in order (undefined: not written); default: the value itself in each. */
  readonly convert?: (value: unknown) => readonly unknown[];
}

const field = (to: string, type: string, convert?: (value: unknown) => unknown): FieldMapping =>
  convert ? { to: [to], type, convert: (v) => [convert(v)] } : { to: [to], type };
const custom = (event: LogEvent, name: string, type: string): FieldMapping =>
  field(`mtls_gateway.${event}.${name}`, type);

/** Milliseconds (our `*_ms`, 3 decimals) to ECS's whole nanoseconds. */
const nanoseconds = (v: unknown): unknown => (typeof v === 'number' ? Math.round(v * 1e6) : v);
/** An ECS keyword holding what is sometimes a number natively (an exit code, `unlimited`). */
const keyword = (v: unknown): unknown => (v === null || v === undefined ? v : String(v));
/** ECS hashes are upper-case hex ("for consistency with other hash values"); ours are lower-case. */
const upperHex = (v: unknown): unknown => (typeof v === 'string' ? v.toUpperCase() : v);

/** `client`/`client_port`: the client's address (from the PROXY header when there was one). */
const CLIENT = {
  // An empty address (a socket already gone) is no IP: Elasticsearch would refuse the document.
  client: {
    to: ['client.ip', 'source.ip'],
    type: 'ip (an empty address is not written)',
    convert: (v) => (v === '' ? [undefined, undefined] : [v, v]),
  },
  client_port: { to: ['client.port', 'source.port'], type: 'long' },
  vpce: field('mtls_gateway.vpce', 'keyword (AWS VPC endpoint id, PROXY protocol v2 TLV)'),
} satisfies Record<string, FieldMapping>;

/** The client certificate as the gate read it (handshake and connection lines). */
const CLIENT_CERT = {
  subject: field('tls.client.x509.subject.distinguished_name', 'keyword (RFC 2253)'),
  serial: field('tls.client.x509.serial_number', 'keyword (upper-case hex)'),
  issuer: field('tls.client.x509.issuer.distinguished_name', 'keyword (RFC 2253)'),
} satisfies Record<string, FieldMapping>;

const PARTNER = field('mtls_gateway.partner_id', 'keyword');
const DURATION = field('event.duration', 'long (nanoseconds: native ms × 1,000,000)', nanoseconds);

/** `TLSv1.3` → `tls.version` `1.3`, `tls.version_protocol` `tls`. */
const TLS_VERSION: FieldMapping = {
  to: ['tls.version', 'tls.version_protocol'],
  type: 'keyword (`TLSv1.3` → `1.3` and `tls`)',
  convert: (v) => {
    const m = typeof v === 'string' ? /^(TLS|SSL)v?(.*)$/i.exec(v) : null;
    return m ? [m[2], m[1]!.toLowerCase()] : [v, undefined];
  },
};

/** The request target as sent, split as ECS's url.* wants it (`url.query` without the `?`). */
const REQUEST_PATH: FieldMapping = {
  to: ['url.original', 'url.path', 'url.query'],
  type: 'keyword (the target as sent; path and query split at the first `?`)',
  convert: (v) => {
    if (typeof v !== 'string') return [v, undefined, undefined];
    const q = v.indexOf('?');
    return q < 0 ? [v, v, undefined] : [v, v.slice(0, q), v.slice(q + 1)];
  },
};

/** An AddressInfo (`{ address, family, port }`) of a listener of ours. */
const LISTEN_ADDRESS: FieldMapping = {
  to: ['server.ip', 'server.port'],
  type: 'ip, long (from `{address, port}`)',
  convert: (v) => {
    const a = v as { address?: unknown; port?: unknown } | null;
    return typeof a === 'object' && a !== null ? [a.address, a.port] : [v, undefined];
  },
};

/** Fields of every line, whatever its event (level and time are pino's own, renamed in logger.ts). */
export const LINE_FIELDS: Readonly<Record<string, FieldMapping>> = {
  level: field('log.level', 'keyword'),
  time: field('@timestamp', 'date (ISO 8601, UTC)'),
  msg: field('message', 'match_only_text'),
  event: field('event.dataset', 'keyword (`mtls_gateway.<event>`)'),
};

/** pino bindings: the base (`service`) and the cluster's child loggers. Written top-level, dotted. */
export const BINDING_FIELDS: Readonly<Record<string, FieldMapping>> = {
  service: field('service.name', 'keyword'),
  role: field('labels.role', 'keyword (`primary`: the cluster primary)'),
  worker: field('service.node.name', 'keyword (cluster worker id)', keyword),
  pid: field('process.pid', 'long'),
};

/** Every field of every event, native name → ECS. */
export const EVENT_FIELDS: Readonly<Record<LogEvent, Readonly<Record<string, FieldMapping>>>> = {
  handshake: {
    ...CLIENT,
    tls_version: TLS_VERSION,
    cipher: field('tls.cipher', 'keyword (IANA name)'),
    resumed: field('tls.resumed', 'boolean'),
    duration_ms: DURATION,
    result: field('event.outcome', 'keyword (`success`, `failure`)'),
    reason: field('event.reason', 'keyword (refusal reason)'),
    detail: field('mtls_gateway.detail', 'keyword'),
    ...CLIENT_CERT,
    fingerprint256: field('tls.client.hash.sha256', 'keyword (upper-case hex)', upperHex),
    partner_id: PARTNER,
  },
  request: {
    request_id: field('http.request.id', 'keyword'),
    trace_id: field('trace.id', 'keyword (W3C trace id)'),
    partner_id: PARTNER,
    client: CLIENT.client,
    method: field('http.request.method', 'keyword (as sent)'),
    path: REQUEST_PATH,
    forwarded_path: field('mtls_gateway.request.forwarded_path', 'keyword'),
    route: field('mtls_gateway.route', 'keyword'),
    status: field('http.response.status_code', 'long (0: no answer written)'),
    reason: field('event.reason', 'keyword (refusal or error code)'),
    upstream_error: field('mtls_gateway.request.upstream_error', 'keyword'),
    upstream_ms: field(
      'mtls_gateway.request.upstream_duration',
      'long (nanoseconds: native ms × 1,000,000)',
      nanoseconds,
    ),
    bytes_in: field('http.request.body.bytes', 'long (Content-Length)'),
    bytes_out: field('http.response.body.bytes', 'long'),
    duration_ms: DURATION,
  },
  connection: {
    ...CLIENT,
    partner_id: PARTNER,
    result: field('event.action', 'keyword (`refused`, `evicted`)'),
    reason: field('event.reason', 'keyword'),
    detail: field('mtls_gateway.detail', 'keyword'),
    ...CLIENT_CERT,
  },
  internal_error: {
    where: custom('internal_error', 'where', 'keyword'),
    client: CLIENT.client,
    error: field('error.type', 'keyword (the Error name)'),
    detail: field('error.message', 'match_only_text'),
  },
  trust: {
    kind: custom('trust', 'kind', 'keyword (`ca_bundle`, `crl`, `server_cert`)'),
    source: custom('trust', 'source', 'keyword (redacted URL or path)'),
    result: field('event.action', 'keyword'),
    reason: field('event.reason', 'keyword'),
    error: field('error.message', 'match_only_text'),
    error_code: field('error.code', 'keyword', keyword),
    version: custom('trust', 'version', 'keyword'),
    generation: custom('trust', 'generation', 'long'),
    ca_bundle_version: custom('trust', 'ca_bundle_version', 'keyword'),
    server_cert_version: custom('trust', 'server_cert_version', 'keyword'),
    cas: {
      to: ['mtls_gateway.trust.cas', 'mtls_gateway.trust.ca_count'],
      type: 'object array (`subject`, `fingerprint256`) when a list, long when a count',
      convert: (v) => (Array.isArray(v) ? [v, undefined] : [undefined, v]),
    },
    crls: custom('trust', 'crl_count', 'long'),
    forced: custom('trust', 'forced', 'boolean'),
    warnings: custom('trust', 'warnings', 'keyword array'),
    issuer: custom('trust', 'issuer', 'keyword (RFC 2253)'),
    subject: custom('trust', 'subject', 'keyword (RFC 2253)'),
    serial: custom('trust', 'serial', 'keyword (upper-case hex)'),
    fingerprint256: custom('trust', 'fingerprint256', 'keyword (lower-case hex)'),
    partner_id: PARTNER,
    entries: custom('trust', 'entries', 'long'),
    crl_number: custom('trust', 'crl_number', 'keyword'),
    this_update: custom('trust', 'this_update', 'date'),
    next_update: custom('trust', 'next_update', 'date'),
    not_before: custom('trust', 'not_before', 'date'),
    not_after: custom('trust', 'not_after', 'date'),
    days_left: custom('trust', 'days_left', 'long'),
    held_version: custom('trust', 'held_version', 'keyword'),
    decision: custom('trust', 'decision', 'keyword'),
    repeated: custom('trust', 'repeated', 'long'),
    kept: custom('trust', 'kept', 'keyword'),
    active_partners: custom('trust', 'active_partners', 'long'),
    refused_percent: custom('trust', 'refused_percent', 'float'),
    max_refused_percent: custom('trust', 'max_refused_percent', 'float'),
    would_refuse: custom('trust', 'would_refuse', 'object array'),
    signals: custom('trust', 'signals', 'long'),
    queued: custom('trust', 'queued', 'boolean'),
  },
  policy: {
    file: field('file.path', 'keyword'),
    parameter: custom('policy', 'parameter', 'keyword (SSM parameter name)'),
    version: field('mtls_gateway.policy.version', 'keyword', keyword),
    error: field('error.message', 'match_only_text'),
  },
  lifecycle: {
    address: LISTEN_ADDRESS,
    error: field('error.message', 'match_only_text'),
    code: field('error.code', 'keyword (a worker exit code, or EMFILE/ENFILE)', keyword),
    signal: custom('lifecycle', 'signal', 'keyword'),
    worker: custom('lifecycle', 'worker', 'long (the worker that died)'),
    workers: custom('lifecycle', 'workers', 'long'),
    workers_reason: custom('lifecycle', 'workers_reason', 'keyword'),
    in_flight: custom('lifecycle', 'in_flight', 'long'),
    clean: custom('lifecycle', 'clean', 'boolean'),
    cut_requests: custom('lifecycle', 'cut_requests', 'long'),
    drain_seconds: custom('lifecycle', 'drain_seconds', 'long'),
    max_connections: custom('lifecycle', 'max_connections', 'long'),
    fds_needed: custom('lifecycle', 'fds_needed', 'long'),
    nofile_soft: custom('lifecycle', 'nofile_soft', 'long'),
    nofile_hard: field('mtls_gateway.lifecycle.nofile_hard', 'keyword (a number or `unlimited`)', keyword),
    fix: custom('lifecycle', 'fix', 'keyword'),
    limit: custom('lifecycle', 'limit', 'long (soft descriptor limit)'),
    open_fds: custom('lifecycle', 'open_fds', 'long'),
  },
};

export interface Categorization {
  readonly category: readonly string[];
  readonly type: readonly string[];
  readonly outcome?: 'success' | 'failure';
  readonly action?: string;
}

/** Trust and connection `result` values that are a failure (every other one is a success). */
const FAILED_RESULTS = new Set([
  'failure',
  'rejected',
  'guard_blocked',
  'label_failed',
  'fleet_held',
  'refused',
  'evicted',
]);
/** Trust `result` values that installed or kept material (event.type `change`). */
const CHANGED_RESULTS = new Set(['loaded', 'in_force', 'guard_bypassed']);

const isError = (level: unknown): boolean => level === 'error' || level === 'fatal';

/**
 * The ECS categorization of a native line (docs/logging.md, "Derived fields"). `level` is the
 * pino level label: a line with no `result` of its own is a failure when logged as an error.
 */
export function categorize(
  line: Readonly<Record<string, unknown>>,
  level: string | undefined,
): Categorization {
  const result = typeof line.result === 'string' ? line.result : undefined;
  const byResult = result === undefined ? undefined : FAILED_RESULTS.has(result) ? 'failure' : 'success';
  const byLevel = isError(level) ? 'failure' : undefined;
  switch (line.event) {
    case 'handshake': {
      const outcome = result === 'success' ? 'success' : 'failure';
      return {
        category: ['network', 'authentication'],
        type: ['connection', outcome === 'success' ? 'allowed' : 'denied'],
        outcome,
        action: 'tls_handshake',
      };
    }
    case 'request': {
      const status = typeof line.status === 'number' ? line.status : 0;
      const failed = status === 0 || status >= 400;
      return {
        category: ['web'],
        type: status === 0 || status >= 500 ? ['access', 'error'] : ['access'],
        outcome: failed ? 'failure' : 'success',
        action: 'http_request',
      };
    }
    case 'connection':
      return { category: ['network'], type: ['connection', 'denied'], outcome: 'failure' };
    case 'internal_error':
      return { category: ['network'], type: ['error'], outcome: 'failure' };
    case 'trust': {
      const outcome = byResult ?? byLevel;
      const type = result !== undefined && CHANGED_RESULTS.has(result) ? ['change'] : ['info'];
      return outcome ? { category: ['configuration'], type, outcome } : { category: ['configuration'], type };
    }
    case 'policy':
      return byLevel
        ? { category: ['configuration'], type: ['info'], outcome: byLevel }
        : { category: ['configuration'], type: ['change'], outcome: 'success' };
    case 'lifecycle': {
      const type =
        line.msg === 'stopped' ? ['end'] : /listening$/.test(String(line.msg)) ? ['start'] : ['info'];
      return byLevel ? { category: ['process'], type, outcome: byLevel } : { category: ['process'], type };
    }
    default:
      return byLevel ? { category: [], type: ['info'], outcome: byLevel } : { category: [], type: ['info'] };
  }
}

function isLogEvent(value: unknown): value is LogEvent {
  return typeof value === 'string' && (LOG_EVENTS as readonly string[]).includes(value);
}

/** The mapping of one native field of a line with this `event` (undefined: not in the table). */
export function mappingOf(event: unknown, name: string): FieldMapping | undefined {
  if (isLogEvent(event)) {
    const m = EVENT_FIELDS[event][name];
    if (m) return m;
  }
  return name === 'msg' || name === 'event' ? LINE_FIELDS[name] : undefined;
}

/** Native fields of a line that have no row in the table (the test's enumeration of real lines). */
export function unmappedFields(line: Readonly<Record<string, unknown>>): string[] {
  const skip = new Set(['level', 'time', ...Object.keys(BINDING_FIELDS)]);
  return Object.keys(line).filter((k) => !skip.has(k) && mappingOf(line.event, k) === undefined);
}

/** A target path, split once: the hot path (one request line each) never splits strings. */
type Path = readonly string[];

function setPath(target: Record<string, unknown>, parts: Path, value: unknown): void {
  let node = target;
  const last = parts.length - 1;
  for (let i = 0; i < last; i++) {
    const key = parts[i]!;
    const next = node[key];
    if (typeof next === 'object' && next !== null && !Array.isArray(next))
      node = next as Record<string, unknown>;
    else {
      const created: Record<string, unknown> = {};
      node[key] = created;
      node = created;
    }
  }
  node[parts[last]!] = value;
}

interface Compiled {
  readonly paths: readonly Path[];
  readonly convert: FieldMapping['convert'];
}

const compile = (m: FieldMapping): Compiled => ({ paths: m.to.map((t) => t.split('.')), convert: m.convert });
const COMPILED = new Map<string, ReadonlyMap<string, Compiled>>(
  LOG_EVENTS.map((event) => [
    event,
    new Map(Object.entries(EVENT_FIELDS[event]).map(([name, m]) => [name, compile(m)])),
  ]),
);
const NO_FIELDS: ReadonlyMap<string, Compiled> = new Map();
const TLS_ESTABLISHED: Path = ['tls', 'established'];

function write(target: Record<string, unknown>, c: Compiled, value: unknown): void {
  if (!c.convert) {
    for (const path of c.paths) setPath(target, path, value);
    return;
  }
  const values = c.convert(value);
  for (let i = 0; i < c.paths.length; i++)
    if (values[i] !== undefined) setPath(target, c.paths[i]!, values[i]);
}

/**
 * A native line's own fields (what the code passed to the logger: not level, time or bindings)
 * as ECS: `message` first, then `ecs.version`, `event.*`, and every field by the table; an
 * unknown field under `mtls_gateway.<event>.<field>`.
 */
export function toEcs(line: Readonly<Record<string, unknown>>, level?: string): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (line.msg !== undefined) out.message = line.msg;
  out['ecs.version'] = ECS_VERSION;
  const event = typeof line.event === 'string' ? line.event : 'log';
  const c = categorize(line, level);
  const e: Record<string, unknown> = {
    kind: 'event',
    module: 'mtls_gateway',
    dataset: `mtls_gateway.${event}`,
    category: c.category,
    type: c.type,
  };
  if (c.outcome) e.outcome = c.outcome;
  if (c.action) e.action = c.action;
  out.event = e;
  const fields = COMPILED.get(event) ?? NO_FIELDS;
  for (const name in line) {
    const value = line[name];
    if (value === undefined || name === 'msg' || name === 'event') continue;
    const compiled = fields.get(name);
    if (compiled) write(out, compiled, value);
    else setPath(out, ['mtls_gateway', event, name], value); // no row yet: kept, never dropped
  }
  if (line.event === 'handshake') {
    // The gate runs after a completed handshake (it logs the TLS version); a line without one is
    // a handshake that never completed (timeout, PROXY header, TLS alert).
    setPath(out, TLS_ESTABLISHED, line.tls_version !== undefined);
  }
  return out;
}

/** pino bindings (base and child loggers) as top-level dotted ECS names. */
export function bindingsToEcs(bindings: Readonly<Record<string, unknown>>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(bindings)) {
    if (value === undefined) continue;
    const mapping = BINDING_FIELDS[name];
    if (!mapping) {
      out[`labels.${name}`] = value;
      continue;
    }
    const values = mapping.convert ? mapping.convert(value) : mapping.to.map(() => value);
    mapping.to.forEach((to, i) => {
      if (values[i] !== undefined) out[to] = values[i];
    });
  }
  return out;
}
