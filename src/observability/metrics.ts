/**
 * Every metric the gateway exports, defined once (prefix mtls_gateway_). Label values come from
 * closed sets (handshake reasons, trust kinds, route names), so cardinality stays bounded.
 */
import { readFileSync } from 'node:fs';
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import { logLinesDropped } from './logger.js';

export type TrustKind = 'ca_bundle' | 'crl' | 'server_cert';

export interface Metrics {
  readonly registry: Registry;
  readonly handshakes: Counter<'result' | 'reason'>;
  readonly handshakeDuration: Histogram<'result'>;
  readonly activeConnections: Gauge;
  /** Accepted connections whose TLS handshake has not been decided yet (nothing verified). */
  readonly handshakingConnections: Gauge;
  readonly buildInfo: Gauge<'version' | 'node' | 'openssl'>;
  readonly requests: Counter<'route' | 'code'>;
  readonly requestDuration: Histogram<'route'>;
  readonly upstreamErrors: Counter<'route' | 'kind'>;
  readonly trustReloads: Counter<'kind' | 'result'>;
  readonly trustLastSuccess: Gauge<'kind'>;
  readonly trustLastChange: Gauge<'kind'>;
  readonly caNotAfter: Gauge<'subject'>;
  readonly serverCertNotAfter: Gauge;
  readonly caNotYetValid: Gauge<'subject'>;
  readonly crlNextUpdate: Gauge<'issuer'>;
  readonly crlEntries: Gauge<'issuer'>;
  readonly crlNearExpiry: Gauge<'issuer'>;
  readonly crlRejected: Counter<'reason'>;
  readonly connectionsRefused: Counter<'reason'>;
  readonly acceptErrors: Counter<'code'>;
  readonly logLinesDropped: Counter;
  readonly trustGuardBlocked: Counter<'kind'>;
  readonly partnerRequests: Counter<'partner' | 'route' | 'code'>;
  readonly clientCertNotAfter: Gauge<'partner'>;
  readonly policyReloads: Counter<'result'>;
  readonly internalErrors: Counter<'where'>;
}

/** The package version, read once: what `mtls_gateway_build_info` reports (`unknown` if unreadable). */
function packageVersion(): string {
  try {
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
      version?: unknown;
    };
    return typeof pkg.version === 'string' ? pkg.version : 'unknown';
  } catch {
    return 'unknown';
  }
}

export const BUILD_INFO = {
  version: packageVersion(),
  node: process.versions.node,
  openssl: process.versions.openssl,
} as const;

/**
 * In cluster mode the primary's /metrics sums the workers' samples; trust state is the same in
 * every worker, so those metrics aggregate with max (expiry radar: min) instead of being multiplied.
 */
export function createMetrics(options: { defaultMetrics?: boolean } = {}): Metrics {
  const registry = new Registry();
  const p = 'mtls_gateway_';
  if (options.defaultMetrics ?? true) collectDefaultMetrics({ register: registry, prefix: p });
  const registers = [registry];
  return {
    registry,
    handshakes: new Counter({
      name: `${p}handshakes_total`,
      help: 'TLS handshakes by result (success|failure) and refusal reason',
      labelNames: ['result', 'reason'],
      registers,
    }),
    handshakeDuration: new Histogram({
      name: `${p}handshake_duration_seconds`,
      help: 'Time from TCP accept to a verified (or refused) TLS session',
      labelNames: ['result'],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10],
      registers,
    }),
    activeConnections: new Gauge({
      name: `${p}active_connections`,
      help: 'Open client TLS connections',
      registers,
    }),
    handshakingConnections: new Gauge({
      name: `${p}handshaking_connections`,
      help: 'Accepted client connections not yet verified (PROXY header or TLS handshake pending)',
      registers,
    }),
    buildInfo: buildInfoGauge(`${p}build_info`, registers),
    requests: new Counter({
      name: `${p}requests_total`,
      help: 'Requests answered, by route and HTTP status code',
      labelNames: ['route', 'code'],
      registers,
    }),
    requestDuration: new Histogram({
      name: `${p}request_duration_seconds`,
      help: 'Time from request headers to the end of the response, by route',
      labelNames: ['route'],
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers,
    }),
    upstreamErrors: new Counter({
      name: `${p}upstream_errors_total`,
      help: 'Failures talking to an upstream, by route and kind (connect, timeout, reset, other)',
      labelNames: ['route', 'kind'],
      registers,
    }),
    trustReloads: new Counter({
      name: `${p}trust_reloads_total`,
      aggregator: 'max',
      help: 'Attempts to load trust material, by kind (ca_bundle|crl|server_cert) and result',
      labelNames: ['kind', 'result'],
      registers,
    }),
    trustLastSuccess: new Gauge({
      name: `${p}trust_last_success_timestamp_seconds`,
      aggregator: 'max',
      help: 'When each kind of trust material was last loaded or confirmed unchanged',
      labelNames: ['kind'],
      registers,
    }),
    trustLastChange: new Gauge({
      name: `${p}trust_last_change_timestamp_seconds`,
      aggregator: 'max',
      help: 'When the material in force of each kind last changed (a new bundle, certificate or CRL set)',
      labelNames: ['kind'],
      registers,
    }),
    serverCertNotAfter: new Gauge({
      name: `${p}server_cert_not_after_timestamp_seconds`,
      aggregator: 'max',
      help: "notAfter of the gateway's own server certificate in force",
      registers,
    }),
    caNotAfter: new Gauge({
      name: `${p}ca_cert_not_after_timestamp_seconds`,
      aggregator: 'max',
      help: 'Expiry of each trusted client CA',
      labelNames: ['subject'],
      registers,
    }),
    caNotYetValid: new Gauge({
      name: `${p}ca_not_yet_valid_timestamp_seconds`,
      aggregator: 'max',
      help: 'notBefore of each loaded client CA that is not valid yet (chains through it fail until then)',
      labelNames: ['subject'],
      registers,
    }),
    crlNextUpdate: new Gauge({
      name: `${p}crl_next_update_timestamp_seconds`,
      aggregator: 'max',
      help: 'nextUpdate of the CRL in force for each issuer',
      labelNames: ['issuer'],
      registers,
    }),
    crlEntries: new Gauge({
      name: `${p}crl_entries`,
      aggregator: 'max',
      help: 'Revoked serials in the CRL in force for each issuer',
      labelNames: ['issuer'],
      registers,
    }),
    crlNearExpiry: new Gauge({
      name: `${p}crl_near_expiry`,
      aggregator: 'max',
      help: '1 when the CRL in force is in the last 25% of its validity window (or past nextUpdate)',
      labelNames: ['issuer'],
      registers,
    }),
    connectionsRefused: new Counter({
      name: `${p}connections_refused_total`,
      help: 'Connections closed by a limit (max_connections, max_handshaking_connections at accept; handshaking_evicted: the oldest unauthenticated one, closed for a new one when the handshaking cap is full; max_connections_per_client after verification)',
      labelNames: ['reason'],
      registers,
    }),
    logLinesDropped: new Counter({
      name: `${p}log_lines_dropped_total`,
      help: 'Log lines dropped because stdout could not take them (GATEWAY_LOG_BUFFER_BYTES was full)',
      registers,
      collect() {
        // The logger counts (it exists before any registry); the counter shows its total.
        this.reset();
        this.inc(logLinesDropped());
      },
    }),
    acceptErrors: new Counter({
      name: `${p}accept_errors_total`,
      help: 'Connections that could not be accepted, by error code (EMFILE, ENFILE: out of file descriptors)',
      labelNames: ['code'],
      registers,
    }),
    crlRejected: new Counter({
      name: `${p}crl_rejected_total`,
      aggregator: 'max',
      help: 'CRLs refused at load time (bad signature, unknown issuer, malformed, older than the one in force)',
      labelNames: ['reason'],
      registers,
    }),
    trustGuardBlocked: new Counter({
      name: `${p}trust_guard_blocked_total`,
      aggregator: 'max',
      help: 'CA bundles or CRL sets held back because they would refuse too many recently active partners',
      labelNames: ['kind'],
      registers,
    }),
    // `partner` is a declared partner id or `undeclared`: bounded by the GATEWAY_CONFIG file, never a CN.
    partnerRequests: new Counter({
      name: `${p}partner_requests_total`,
      help: 'Requests answered, by declared partner (or undeclared), route and HTTP status code',
      labelNames: ['partner', 'route', 'code'],
      registers,
    }),
    clientCertNotAfter: new Gauge({
      name: `${p}client_cert_not_after_timestamp_seconds`,
      aggregator: 'min',
      help: 'Earliest notAfter among client certificates seen in the last 7 days, by partner',
      labelNames: ['partner'],
      registers,
    }),
    policyReloads: new Counter({
      name: `${p}policy_reloads_total`,
      aggregator: 'max',
      help: 'Reloads of the GATEWAY_CONFIG file, by result (success|failure|unchanged)',
      labelNames: ['result'],
      registers,
    }),
    // `where` is a closed set (InternalErrorWhere in tls/listener.ts): the stage that threw.
    internalErrors: new Counter({
      name: `${p}internal_errors_total`,
      help: 'Connections closed by the last-resort catch after a bug threw in the per-connection path, by stage',
      labelNames: ['where'],
      registers,
    }),
  };
}

/** Always 1; the labels say which build runs (join on it in dashboards and alerts). */
function buildInfoGauge(name: string, registers: Registry[]): Gauge<'version' | 'node' | 'openssl'> {
  const gauge = new Gauge({
    name,
    aggregator: 'max',
    help: 'The running build: package version, Node.js and OpenSSL versions (value always 1)',
    labelNames: ['version', 'node', 'openssl'],
    registers,
  });
  gauge.set(BUILD_INFO, 1);
  return gauge;
}
