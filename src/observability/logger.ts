/**
 * The pino JSON logger: one line per event on stdout. Events carry `event` (handshake, request,
 * trust, lifecycle). Certificates are logged by subject, serial, issuer and fingerprint only; a
 * serializer-free design keeps private keys and PEM out of every line by construction.
 */
import { type DestinationStream, type LevelWithSilent, type Logger, pino } from 'pino';

export type { Logger } from 'pino';

export function createLogger(level: LevelWithSilent, destination?: DestinationStream): Logger {
  return pino(
    {
      level,
      base: { service: 'mtls-gateway' },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    destination ?? pino.destination({ dest: 1, sync: false }),
  );
}
