/**
 * Loadtest: the operators' load generator (`mtls-gateway loadtest`). It measures a gateway from
 * the outside like a partner would; it is not used by the gateway itself.
 */
export * from './report.js';
export * from './run-load.js';
