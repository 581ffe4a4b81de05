/** `mtls-gateway bundle check|diff|push`: argument parsing and printing (the logic is src/inspect). */
import { parseArgs } from 'node:util';
import {
  type BundleDiff,
  type BundleReport,
  checkBundle,
  diffBundles,
  isoSeconds,
  type SeenClient,
} from '../inspect/index.js';
import {
  clientInput,
  clientInputsFromDir,
  findingLines,
  positiveInteger,
  printJson,
  progress,
  readInput,
  revocationPolicyFromEnv,
} from './inspect-support.js';
import { UsageError } from './usage-error.js';

export const BUNDLE_USAGE = `usage: mtls-gateway bundle check BUNDLE [--crl FILE]… [--client CERT]… [--warn-days N] [--production] [--json]
       mtls-gateway bundle diff OLD NEW [--clients DIR|FILE.json] [--crl FILE]… [--production] [--json]
       mtls-gateway bundle push BUNDLE --secret-id ID [--crl FILE]… [--client CERT]… [--clients DIR] [--dry-run] [--force] [--create] [--json]

check  every block of BUNDLE: subject, SHA-256 fingerprint, validity (expired, or expiring within
       --warn-days, default 30), CA flag, path length, key type and size (RSA < 2048 and SHA-1
       signatures flagged), duplicates, blank lines and stray text; each --crl verified as the
       gateway loads it (issuer in the bundle, signature, next update) and CAs left without a CRL;
       each --client accepted or refused exactly as the gateway would decide it (a real in-memory
       TLS handshake when the key is in the file or next to it as NAME-key.pem).
diff   CAs added, removed and renewed; with --clients (a folder of certificates, whose CA
       certificates are skipped, or the JSON of GET /trust/expiring) which clients would lose or
       gain access; each --crl is applied under both bundles, so a revoked client stays revoked.
push   check first (refuses on errors), diff against the secret's AWSCURRENT version, then
       PutSecretValue and print the new version id. The clients of --client and --clients are the
       evidence of whom the change affects: a push that takes access from one of them, or that
       removes a CA with no such evidence, is refused unless --force. --dry-run stops before
       writing; --force also labels the new version MTLS_GATEWAY_FORCE (bypasses the rotation
       lock-out guard); --create makes the secret when it does not exist yet.
       AWS configuration as the gateway: default credentials, AWS_REGION,
       AWS_ENDPOINT_URL_SECRETS_MANAGER.

GATEWAY_CRL_GRACE_SECONDS and GATEWAY_CRL_REQUIRED apply as in the gateway.
exit codes: 0 fine, 1 problems found (errors or warnings; diff: a client loses access), 2 usage error
`;

const CHECK_OPTIONS = {
  crl: { type: 'string' as const, multiple: true as const, default: [] as string[] },
  client: { type: 'string' as const, multiple: true as const, default: [] as string[] },
  'warn-days': { type: 'string' as const },
  production: { type: 'boolean' as const, default: false },
  json: { type: 'boolean' as const, default: false },
};

async function runCheck(
  bundlePath: string,
  values: {
    crl?: string[];
    client?: string[];
    'warn-days'?: string;
    production?: boolean;
  },
): Promise<BundleReport> {
  return checkBundle({
    source: bundlePath,
    bytes: readInput(bundlePath, 'bundle'),
    crls: (values.crl ?? []).map((name) => ({ name, bytes: readInput(name, 'CRL') })),
    clients: (values.client ?? []).map((p) => clientInput(p)),
    now: Date.now(),
    warnDays: positiveInteger('warn-days', values['warn-days'], 30),
    production: values.production ?? false,
    policy: revocationPolicyFromEnv(process.env),
    ...(progress('checking clients') ? { onClient: progress('checking clients')! } : {}),
  });
}

function formatCheck(r: BundleReport): string {
  let out = `bundle ${r.source}: ${r.cas.length} block(s), ${r.gatewayAccepts ? 'accepted' : 'REFUSED'} by the gateway\n`;
  out += findingLines(r.findings);
  for (const ca of r.cas) {
    const f = ca.facts;
    if (!f) {
      out += `CA ${ca.block}: unreadable\n${findingLines(ca.findings)}`;
      continue;
    }
    const key = f.curve ? `${f.keyType} ${f.curve}` : `${f.keyType} ${f.keyBits ?? '?'} bits`;
    out += `CA ${ca.block}: ${f.subject}\n`;
    out += `  sha256 ${f.fingerprint256}\n`;
    out += `  valid ${isoSeconds(f.notBefore)} to ${isoSeconds(f.notAfter)}; ${f.isCa ? 'CA' : 'NOT A CA'}; pathlen ${f.pathLength ?? 'none'}; ${key}; ${f.signatureAlgorithm}${f.selfSigned ? '; self-signed root' : `; issued by ${f.issuer}`}\n`;
    out += findingLines(ca.findings);
  }
  for (const c of r.crls) {
    out += c.verified
      ? `CRL ${c.source}: ${c.issuer} verified; this update ${isoSeconds(c.thisUpdate!)}, next update ${c.nextUpdate === undefined ? 'none' : isoSeconds(c.nextUpdate)}, ${c.entries} entries, number ${c.crlNumber ?? 'none'}\n`
      : `CRL ${c.source}: ${c.issuer ?? '(unreadable)'} NOT USED\n`;
    out += findingLines(c.findings);
  }
  for (const c of r.clients) {
    out += c.accepted
      ? `client ${c.name}: accepted (${c.method}) ${c.subject}\n`
      : `client ${c.name}: refused ${c.reason} (${c.method}) ${c.subject ?? ''}\n`;
  }
  out += `result: ${r.errors} error(s), ${r.warnings} warning(s)\n`;
  return out;
}

function formatDiff(d: BundleDiff): string {
  let out = '';
  for (const c of d.added)
    out += `added    ${c.subject} (sha256 ${c.new.map((f) => f.fingerprint256).join(', ')})\n`;
  for (const c of d.removed)
    out += `removed  ${c.subject} (sha256 ${c.old.map((f) => f.fingerprint256).join(', ')})\n`;
  for (const c of d.renewed) {
    const until = (fs: typeof c.old): string => fs.map((f) => isoSeconds(f.notAfter)).join(', ');
    out += `renewed  ${c.subject} (${c.keyChanged ? 'new key' : 'same key'}; not after ${until(c.old)} -> ${until(c.new)})\n`;
  }
  out += `unchanged ${d.unchanged} CA(s)\n`;
  if (d.newBundleRefused)
    out += `the gateway would REFUSE the new bundle (the old one stays): ${d.newBundleRefused}\n`;
  for (const c of d.loseAccess)
    out += `loses access  ${c.name} ${c.subject ?? ''} (${c.before} -> ${c.after}; by ${c.basis})\n`;
  for (const c of d.gainAccess)
    out += `gains access  ${c.name} ${c.subject ?? ''} (${c.before} -> ${c.after}; by ${c.basis})\n`;
  for (const n of d.undecided) out += `undecided     ${n} (no issuer in the export)\n`;
  return out;
}

function seenFromJson(path: string): SeenClient[] {
  let value: unknown;
  try {
    value = JSON.parse(readInput(path, 'client export').toString('utf8'));
  } catch (err) {
    if (err instanceof UsageError) throw err;
    throw new UsageError(
      `'${path}' is not JSON (give a folder of certificates or the JSON of /trust/expiring)`,
    );
  }
  const list = Array.isArray(value) ? value : (value as { expiring?: unknown }).expiring;
  if (!Array.isArray(list)) throw new UsageError(`'${path}': expected an array or {"expiring": [...]}`);
  return list.flatMap((e): SeenClient[] => {
    const o = e as Record<string, unknown>;
    const fp = o.fingerprint256 ?? o.fingerprint;
    if (typeof fp !== 'string') return [];
    const str = (k: string): string | undefined => (typeof o[k] === 'string' ? (o[k] as string) : undefined);
    const seen: SeenClient = { fingerprint256: fp.replaceAll(':', '').toLowerCase() };
    return [
      { ...seen, subject: str('subject'), issuer: str('issuer'), partner: str('partner') } as SeenClient,
    ];
  });
}

async function diffCommand(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      clients: { type: 'string' },
      crl: { type: 'string', multiple: true, default: [] },
      production: { type: 'boolean', default: false },
      json: { type: 'boolean', default: false },
    },
  });
  if (positionals.length !== 2) throw new UsageError('bundle diff needs OLD and NEW');
  const [oldPath, newPath] = positionals as [string, string];
  const clientsArg = values.clients;
  const isJson = clientsArg?.endsWith('.json') ?? false;
  const d = await diffBundles({
    oldBytes: readInput(oldPath, 'bundle'),
    newBytes: readInput(newPath, 'bundle'),
    clients: clientsArg && !isJson ? clientInputsFromDir(clientsArg) : [],
    seen: clientsArg && isJson ? seenFromJson(clientsArg) : [],
    crls: (values.crl ?? []).map((name) => ({ name, bytes: readInput(name, 'CRL') })),
    now: Date.now(),
    production: values.production ?? false,
    policy: revocationPolicyFromEnv(process.env),
    ...(progress('checking clients') ? { onClient: progress('checking clients')! } : {}),
  });
  if (values.json) printJson(d);
  else process.stdout.write(formatDiff(d));
  return d.loseAccess.length > 0 || d.newBundleRefused ? 1 : 0;
}

async function pushCommand(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      ...CHECK_OPTIONS,
      'secret-id': { type: 'string' },
      clients: { type: 'string' },
      'dry-run': { type: 'boolean', default: false },
      force: { type: 'boolean', default: false },
      create: { type: 'boolean', default: false },
    },
  });
  if (positionals.length !== 1) throw new UsageError('bundle push needs exactly one BUNDLE');
  const secretId = values['secret-id'];
  if (!secretId) throw new UsageError('--secret-id is required');
  const bundlePath = positionals[0]!;
  const report = await runCheck(bundlePath, values);
  const json = values.json ?? false;
  if (report.errors > 0) {
    if (json) printJson({ pushed: false, reason: 'check_failed', check: report });
    else
      process.stdout.write(
        `${formatCheck(report)}refused: the bundle has ${report.errors} error(s); nothing was written\n`,
      );
    return 1;
  }
  const bytes = readInput(bundlePath, 'bundle');
  const { readCurrentSecret, writeSecret } = await import('../inspect/secret-publish.js');
  let current: Awaited<ReturnType<typeof readCurrentSecret>>;
  try {
    current = await readCurrentSecret(secretId);
  } catch (err) {
    process.stderr.write(`mtls-gateway: bundle push: ${(err as Error).message}\n`);
    return 1;
  }
  if (!current && !values.create) {
    process.stderr.write(`mtls-gateway: bundle push: secret '${secretId}' not found (--create makes it)\n`);
    return 1;
  }
  const evidence = [
    ...(values.client ?? []).map((p) => clientInput(p)),
    ...(values.clients ? clientInputsFromDir(values.clients) : []),
  ];
  const diff = await diffBundles({
    oldBytes: current?.bytes ?? Buffer.alloc(0),
    newBytes: bytes,
    clients: evidence,
    seen: [],
    crls: (values.crl ?? []).map((name) => ({ name, bytes: readInput(name, 'CRL') })),
    now: Date.now(),
    production: values.production ?? false,
    policy: revocationPolicyFromEnv(process.env),
  });
  // Whom a push locks out must be known and meant: named clients losing access, or a CA removed
  // while nobody said who depends on it, need an explicit --force.
  const needsForce =
    diff.loseAccess.length > 0
      ? `it takes access from ${diff.loseAccess.map((c) => `${c.name} (${c.before} -> ${c.after})`).join(', ')}`
      : diff.removed.length > 0 && evidence.length === 0 && current !== undefined
        ? `it removes ${diff.removed.map((c) => c.subject).join('; ')} and no --client/--clients says who depends on it`
        : undefined;
  if (needsForce && !values.force) {
    if (json)
      printJson({
        pushed: false,
        reason: 'needs_force',
        why: needsForce,
        secret_id: secretId,
        diff,
        check: report,
      });
    else
      process.stdout.write(
        `current version of ${secretId}: ${current?.version ?? '(new secret)'}\n${formatDiff(diff)}refused: ${needsForce}; rerun with --force if that is meant (nothing was written)\n`,
      );
    return 1;
  }
  const identical = current !== undefined && Buffer.compare(current.bytes, bytes) === 0;
  let version: string | undefined;
  if (!values['dry-run'] && !identical) {
    try {
      version = await writeSecret(secretId, bytes.toString('utf8'), {
        force: values.force ?? false,
        create: current === undefined,
      });
    } catch (err) {
      process.stderr.write(`mtls-gateway: bundle push: ${(err as Error).name}: ${(err as Error).message}\n`);
      return 1;
    }
  }
  if (json) {
    printJson({
      pushed: version !== undefined,
      secret_id: secretId,
      previous_version: current?.version ?? null,
      version: version ?? null,
      dry_run: values['dry-run'],
      identical,
      diff,
      check: report,
    });
  } else {
    let out = `check: ${report.errors} error(s), ${report.warnings} warning(s)\n`;
    out += findingLines([...report.findings, ...report.cas.flatMap((c) => c.findings)]);
    out += `current version of ${secretId}: ${current?.version ?? '(new secret)'}\n${formatDiff(diff)}`;
    if (identical) out += 'identical to the current version: nothing to write\n';
    else if (values['dry-run']) out += 'dry run: nothing was written\n';
    else out += `pushed: new version ${version}${values.force ? ' (labelled MTLS_GATEWAY_FORCE)' : ''}\n`;
    process.stdout.write(out);
  }
  return 0;
}

export async function bundleCommand(args: string[]): Promise<number> {
  const [sub, ...rest] = args;
  if (sub === undefined || sub === '--help' || rest.includes('--help')) {
    process.stdout.write(BUNDLE_USAGE);
    return 0;
  }
  switch (sub) {
    case 'check': {
      const { values, positionals } = parseArgs({
        args: rest,
        allowPositionals: true,
        options: CHECK_OPTIONS,
      });
      if (positionals.length !== 1) throw new UsageError('bundle check needs exactly one BUNDLE');
      const report = await runCheck(positionals[0]!, values);
      if (values.json) printJson(report);
      else process.stdout.write(formatCheck(report));
      return report.errors + report.warnings > 0 ? 1 : 0;
    }
    case 'diff':
      return diffCommand(rest);
    case 'push':
      return pushCommand(rest);
    default:
      throw new UsageError(`unknown bundle command '${sub}'`);
  }
}
