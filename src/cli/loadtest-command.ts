/** `mtls-gateway loadtest`: argument parsing for the load generator (the engine is src/loadtest). */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { formatReport, type LoadOptions, runLoad } from '../loadtest/index.js';
import { printJson } from './json-output.js';
import { UsageError } from './usage-error.js';

export const LOADTEST_USAGE = `usage: mtls-gateway loadtest URL --cert FILE --key FILE [options]
       mtls-gateway loadtest http://UPSTREAM/… [options]   (a baseline without TLS, e.g. the upstream itself)

  --cacert FILE                  CA to verify the gateway's certificate (default: system CAs)
  --insecure                     do not verify the gateway's certificate
  --connections N                concurrent connections (default 10)
  --duration S | --requests N    how long, or how many requests (default --duration 10)
  --warmup S                     with --duration: first S seconds of the same load, not measured
  --rate R                       requests per second in total (open loop); default: as fast as possible
  --new-connection-per-request   a full TLS handshake for every request
  --resume                       with the above: offer the previous session (TLS resumption)
  --method M  --body TEXT|@FILE  --header 'Name: value' (repeatable)
  --json                         the report as JSON on stdout
`;

export function parseLoadtestArgs(args: string[]): { options: LoadOptions; json: boolean } {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      cert: { type: 'string' },
      key: { type: 'string' },
      cacert: { type: 'string' },
      insecure: { type: 'boolean', default: false },
      connections: { type: 'string', default: '10' },
      duration: { type: 'string' },
      requests: { type: 'string' },
      warmup: { type: 'string' },
      rate: { type: 'string' },
      'new-connection-per-request': { type: 'boolean', default: false },
      resume: { type: 'boolean', default: false },
      method: { type: 'string', default: 'GET' },
      body: { type: 'string' },
      header: { type: 'string', multiple: true, default: [] },
      json: { type: 'boolean', default: false },
    },
  });
  const [target] = positionals;
  if (!target || positionals.length > 1) throw new UsageError('give exactly one URL');
  let url: URL;
  try {
    url = new URL(target);
  } catch {
    throw new UsageError(`'${target}' is not a URL`);
  }
  const https = url.protocol === 'https:';
  if (!https && url.protocol !== 'http:')
    throw new UsageError('the URL must be https:// (or http:// for a baseline)');
  if (https && (!values.cert || !values.key))
    throw new UsageError('--cert and --key are required for https://');
  if (!https && (values.cert || values.key || values.cacert || values.resume)) {
    throw new UsageError('--cert, --key, --cacert and --resume are for https:// URLs');
  }
  const positive = (name: string, text: string | undefined): number | undefined => {
    if (text === undefined) return undefined;
    const n = Number(text);
    if (!Number.isFinite(n) || n <= 0) throw new UsageError(`--${name} must be a positive number`);
    return n;
  };
  const headers: Record<string, string> = {};
  for (const h of values.header ?? []) {
    const i = h.indexOf(':');
    if (i <= 0) throw new UsageError(`--header '${h}' is not 'Name: value'`);
    headers[h.slice(0, i).trim().toLowerCase()] = h.slice(i + 1).trim();
  }
  const body = values.body?.startsWith('@')
    ? readFileSync(values.body.slice(1))
    : values.body
      ? Buffer.from(values.body)
      : undefined;
  const requests = positive('requests', values.requests);
  const duration = positive('duration', values.duration) ?? (requests === undefined ? 10 : undefined);
  const rate = positive('rate', values.rate);
  const warmup = positive('warmup', values.warmup);
  if (warmup !== undefined && duration === undefined) throw new UsageError('--warmup goes with --duration');
  const options: LoadOptions = {
    url,
    tls:
      values.cert && values.key
        ? {
            cert: readFileSync(values.cert),
            key: readFileSync(values.key),
            ...(values.cacert ? { ca: readFileSync(values.cacert) } : {}),
            rejectUnauthorized: !values.insecure,
          }
        : {},
    connections: Math.floor(positive('connections', values.connections) ?? 10),
    ...(duration === undefined ? {} : { durationSeconds: duration }),
    ...(warmup === undefined ? {} : { warmupSeconds: warmup }),
    ...(requests === undefined ? {} : { requests: Math.floor(requests) }),
    ...(rate === undefined ? {} : { rate }),
    newConnectionPerRequest: values['new-connection-per-request'] ?? false,
    resume: values.resume ?? false,
    method: (values.method ?? 'GET').toUpperCase(),
    headers,
    ...(body ? { body } : {}),
  };
  return { options, json: values.json ?? false };
}

export async function loadtestCommand(args: string[]): Promise<number> {
  const { options, json } = parseLoadtestArgs(args);
  const tty = process.stderr.isTTY === true;
  const report = await runLoad({
    ...options,
    ...(tty
      ? {
          onProgress: (p) =>
            process.stderr.write(
              `\r${p.elapsedSeconds.toFixed(0)} s  ${p.requests} requests  ${p.errors} errors   `,
            ),
        }
      : {}),
  });
  if (tty) process.stderr.write('\n');
  if (json) printJson(report);
  else process.stdout.write(formatReport(report));
  return Object.keys(report.errors).length > 0 ? 1 : 0;
}
