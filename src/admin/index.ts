/**
 * Admin: the plain-HTTP operator surface (/healthz, /readyz, /metrics, /trust) on its own
 * listener. It reports state owned by other rooms and must never be reachable on the TLS port.
 */
export * from './admin-server.js';
export * from './expiry-radar.js';
