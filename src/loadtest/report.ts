/** Plain-text rendering of a LoadReport for a terminal or a ticket. */
import type { LoadReport, Percentiles } from './run-load.js';

const row = (name: string, p: Percentiles): string =>
  `${name.padEnd(16)} p50 ${p.p50.toFixed(3)}  p90 ${p.p90.toFixed(3)}  p99 ${p.p99.toFixed(3)}  max ${p.max.toFixed(3)}  (ms)`;

export function formatReport(r: LoadReport): string {
  const lines = [
    ...(r.warmupRequests > 0 ? [`warm-up          ${r.warmupRequests} requests, not measured`] : []),
    `requests         ${r.requests} in ${r.durationSeconds.toFixed(2)} s = ${r.requestsPerSecond} req/s`,
    `handshakes       ${r.handshakes} (${r.resumedHandshakes} resumed) = ${r.handshakesPerSecond} /s`,
    row('latency', r.latencyMs),
  ];
  if (r.handshakeMs) lines.push(row('handshake', r.handshakeMs));
  lines.push(
    `statuses         ${
      Object.entries(r.statuses)
        .map(([k, v]) => `${k}: ${v}`)
        .join(', ') || 'none'
    }`,
  );
  const errs = Object.entries(r.errors);
  lines.push(
    `errors           ${errs.length === 0 ? 'none' : errs.map(([k, v]) => `${k}: ${v}`).join(', ')}`,
  );
  lines.push(`received         ${r.bytesReceived} bytes`);
  return `${lines.join('\n')}\n`;
}
