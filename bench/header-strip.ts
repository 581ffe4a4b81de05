/**
 * Per-call cost of the header checks that run for every header of every request (a script, not a
 * test): isIdentityHeader and the whole upstreamHeaders build for a typical request, with a plain
 * lower-casing loop over the same names as the peer floor.
 *
 * Run: npx tsc --module nodenext --moduleResolution nodenext --target es2022 --types node --skipLibCheck \
 *   --outDir bench/results/build --rootDir . bench/header-strip.ts && node bench/results/build/bench/header-strip.js
 */
import { isIdentityHeader } from '../src/identity/strip.js';
import { upstreamHeaders } from '../src/proxy/upstream-headers.js';

const names = [
  'Host',
  'User-Agent',
  'Accept',
  'Content-Type',
  'Content-Length',
  'X-Request-Id',
  'Traceparent',
  'X-Client-Id',
  'x_client_subject',
  'X-Forwarded-For',
  'Authorization',
  'Accept-Encoding',
];
const raw = names.flatMap((n) => [n, 'v']);

function perCall(label: string, calls: number, fn: () => unknown): void {
  for (let i = 0; i < calls / 10; i++) fn(); // warm up
  let best = Number.POSITIVE_INFINITY;
  for (let run = 0; run < 5; run++) {
    const t = process.hrtime.bigint();
    for (let i = 0; i < calls; i++) fn();
    best = Math.min(best, Number(process.hrtime.bigint() - t) / calls);
  }
  console.log(`${label.padEnd(44)} ${best.toFixed(1)} ns/call (best of 5 × ${calls})`);
}

let sink = 0;
perCall('floor: toLowerCase of 12 names', 200_000, () => {
  for (const n of names) sink += n.toLowerCase().length;
});
perCall('isIdentityHeader over 12 names', 200_000, () => {
  for (const n of names) if (isIdentityHeader(n)) sink++;
});
perCall('upstreamHeaders, 12 client headers', 200_000, () => {
  sink += upstreamHeaders(raw, undefined, [['x-client-verify', 'SUCCESS']], '127.0.0.1', 'id-1').length;
});
if (sink < 0) console.log(sink);
