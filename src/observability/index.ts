/**
 * Observability: the pino logger and the prom-client registry with every metric defined in one
 * place. Nothing here decides anything; other rooms report to it.
 */
export * from './fd-watch.js';
export * from './logger.js';
export * from './metrics.js';
