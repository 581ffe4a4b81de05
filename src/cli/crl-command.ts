/** `mtls-gateway crl check`: argument parsing and printing (the logic is src/inspect/crl-report.ts). */
import { parseArgs } from 'node:util';
import { type CrlDiff, type CrlReport, checkCrl, diffCrls, isoSeconds } from '../inspect/index.js';
import { splitDer } from '../trust/crl/parse-crl.js';
import {
  clientInputsFromDir,
  findingLines,
  printJson,
  readInput,
  revocationPolicyFromEnv,
} from './inspect-support.js';
import { UsageError } from './usage-error.js';

export const CRL_USAGE = `usage: mtls-gateway crl check CRL --bundle BUNDLE [--serial S]… [--json]
       mtls-gateway crl diff OLD NEW --bundle BUNDLE [--clients DIR] [--json]
       mtls-gateway crl push CRL --bundle BUNDLE (--secret-id ID [--create] | --s3 s3://BUCKET/KEY)
                             [--clients DIR] [--dry-run] [--force] [--json]

check  Reads every CRL in CRL (PEM blocks or DER) with the gateway's parser and verifies it against
       the CAs of BUNDLE as the gateway would: issuer, signature, this/next update
       (GATEWAY_CRL_GRACE_SECONDS applies), CRL number, entries, and for each --serial (hex, colons
       allowed) whether it is listed.
diff   What replacing the CRLs of OLD by those of NEW changes, per signing CA (paired by the CA's
       key, not its name): serials added and removed, CRL numbers, whether the gateway would take
       the new CRL at all (it keeps a CRL that is not older), and with --clients (a folder of
       certificates; CA certificates are skipped) which known clients become revoked or unrevoked.
       exit codes: 0 nothing known is newly revoked, 1 a problem (a new CRL the gateway would
       ignore or keep the old one over) or a --clients certificate newly revoked, 2 usage error
push   check, then diff against what the gateway reads now (the secret's AWSCURRENT version or the
       S3 object), then write. Refused (nothing written, exit 1): a CRL that fails check, or one
       the gateway would not take (not newer than the one in force). Needs --force: a push that
       revokes a certificate of --clients (shown by name), or that adds serials when no --clients
       says whom they belong to. --dry-run stops before writing; --force on Secrets Manager also
       labels the version MTLS_GATEWAY_FORCE (bypasses the gateway's lock-out guard).
       AWS configuration as the gateway: default credentials, AWS_REGION,
       AWS_ENDPOINT_URL_SECRETS_MANAGER, AWS_ENDPOINT_URL_S3.
exit codes, one meaning each:
  0  every CRL is sound and no --serial is listed
  1  a CRL has a problem (unreadable, unverifiable, expired, or a warning): its listings cannot be relied on
  2  usage error
  3  every CRL is sound and a --serial is listed (what you want after revoking)
`;

function format(r: CrlReport): string {
  let out = '';
  for (const c of r.crls) {
    out += `CRL ${c.index} of ${r.source}: ${c.issuer ?? '(unreadable)'}\n`;
    if (c.issuer !== undefined) {
      out += `  signature ${c.verified ? `verified (signed by ${c.signedBy})` : 'NOT VERIFIED'}\n`;
      out += `  this update ${isoSeconds(c.thisUpdate!)}, next update ${c.nextUpdate === undefined ? 'none' : isoSeconds(c.nextUpdate)}, number ${c.crlNumber ?? 'none'}, ${c.entries} entries\n`;
    }
    for (const s of c.serials) {
      out += s.listed
        ? `  serial ${s.serial}: LISTED (revoked ${s.revokedAt === undefined ? 'at an unreadable date' : isoSeconds(s.revokedAt)}${s.reason ? `, ${s.reason}` : ''})\n`
        : `  serial ${s.serial}: not listed\n`;
    }
    out += findingLines(c.findings);
  }
  return `${out}result: ${r.errors} error(s), ${r.warnings} warning(s)\n`;
}

export async function crlCommand(args: string[]): Promise<number> {
  const [sub, ...rest] = args;
  if (sub === undefined || sub === '--help' || rest.includes('--help')) {
    process.stdout.write(CRL_USAGE);
    return 0;
  }
  if (sub === 'diff') return diffCommand(rest);
  if (sub === 'push') return pushCommand(rest);
  if (sub !== 'check') throw new UsageError(`unknown crl command '${sub}'`);
  const { values, positionals } = parseArgs({
    args: rest,
    allowPositionals: true,
    options: {
      bundle: { type: 'string' },
      serial: { type: 'string', multiple: true, default: [] },
      json: { type: 'boolean', default: false },
    },
  });
  if (positionals.length !== 1) throw new UsageError('crl check needs exactly one CRL file');
  if (!values.bundle) throw new UsageError('--bundle is required (the CAs that sign the CRL)');
  const crlPath = positionals[0]!;
  const bytes = readInput(crlPath, 'CRL');
  const tty = process.stderr.isTTY === true;
  const report = checkCrl({
    source: crlPath,
    bytes,
    bundlePem: readInput(values.bundle, 'bundle').toString('latin1'),
    serials: values.serial ?? [],
    now: Date.now(),
    graceSeconds: revocationPolicyFromEnv(process.env).graceSeconds,
    ...(tty && bytes.length > 1024 * 1024
      ? {
          onParse: (i: number, size: number) =>
            process.stderr.write(`parsing CRL ${i} (${(size / 1024 / 1024).toFixed(1)} MB)…\n`),
        }
      : {}),
  });
  if (values.json) printJson(report);
  else process.stdout.write(format(report));
  // A broken CRL outranks a listing: a serial "listed" in a CRL the gateway would ignore revokes nothing.
  if (report.errors + report.warnings > 0) return 1;
  return report.crls.some((c) => c.serials.some((s) => s.listed)) ? 3 : 0;
}

function formatDiff(d: CrlDiff): string {
  let out = '';
  for (const e of d.cas) {
    const num = (x: typeof e.old): string =>
      x ? `number ${x.crl_number ?? 'none'}, ${x.entries} entries` : 'none';
    out += `CA ${e.ca.subject} (sha256 ${e.ca.fingerprint256})\n`;
    out += `  old CRL: ${num(e.old)}; new CRL: ${num(e.new)}${e.unchanged ? ' (unchanged)' : e.new && !e.takesEffect ? ' (NOT TAKEN: not newer)' : ''}\n`;
    out += `  serials added ${e.added.length}, removed ${e.removed.length}\n`;
    for (const s of e.added.slice(0, 20)) out += `    + ${s}\n`;
    if (e.added.length > 20) out += `    + … ${e.added.length - 20} more (--json lists all)\n`;
    for (const s of e.removed.slice(0, 20)) out += `    - ${s}\n`;
    if (e.removed.length > 20) out += `    - … ${e.removed.length - 20} more (--json lists all)\n`;
    for (const c of e.newlyRevoked) out += `  newly revoked    ${c.name} ${c.subject} (serial ${c.serial})\n`;
    for (const c of e.noLongerRevoked)
      out += `  no longer revoked ${c.name} ${c.subject} (serial ${c.serial})\n`;
  }
  out += findingLines(d.findings);
  return `${out}result: ${d.errors} error(s), ${d.warnings} warning(s)\n`;
}

function diffCommand(args: string[]): number {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      bundle: { type: 'string' },
      clients: { type: 'string' },
      json: { type: 'boolean', default: false },
    },
  });
  if (positionals.length !== 2) throw new UsageError('crl diff needs OLD and NEW');
  if (!values.bundle) throw new UsageError('--bundle is required (the CAs that sign the CRLs)');
  const [oldPath, newPath] = positionals as [string, string];
  const d = diffCrls({
    oldBytes: readInput(oldPath, 'CRL'),
    newBytes: readInput(newPath, 'CRL'),
    bundlePem: readInput(values.bundle, 'bundle').toString('latin1'),
    clients: values.clients
      ? clientInputsFromDir(values.clients).map((c) => ({ name: c.name, pem: c.certPem }))
      : [],
  });
  if (values.json) printJson(d);
  else process.stdout.write(formatDiff(d));
  return d.errors > 0 || d.cas.some((e) => e.newlyRevoked.length > 0) ? 1 : 0;
}

/** A secret's SecretString is text: DER CRLs are written as PEM blocks (the gateway reads both). */
function asPemText(bytes: Buffer): string {
  const text = bytes.toString('latin1');
  if (text.includes('-----BEGIN X509 CRL-----')) return text;
  return splitDer(bytes)
    .map((der) => {
      const b64 = Buffer.from(der).toString('base64').replace(/.{64}/g, '$&\n');
      return `-----BEGIN X509 CRL-----\n${b64}${b64.endsWith('\n') ? '' : '\n'}-----END X509 CRL-----\n`;
    })
    .join('');
}

type PushTarget =
  | { readonly kind: 'secretsmanager'; readonly secretId: string; readonly create: boolean }
  | { readonly kind: 's3'; readonly bucket: string; readonly key: string };

function pushTarget(values: { 'secret-id'?: string; s3?: string; create?: boolean }): PushTarget {
  if (values['secret-id'] && values.s3) throw new UsageError('give --secret-id or --s3, not both');
  if (values['secret-id'])
    return { kind: 'secretsmanager', secretId: values['secret-id'], create: values.create ?? false };
  if (values.s3) {
    const m = /^s3:\/\/([^/]+)\/(.+)$/.exec(values.s3);
    if (!m) throw new UsageError(`--s3 '${values.s3}' is not s3://bucket/key`);
    if (values.create) throw new UsageError('--create is for --secret-id');
    return { kind: 's3', bucket: m[1]!, key: m[2]! };
  }
  throw new UsageError('--secret-id or --s3 is required (where the gateway reads this CRL)');
}

async function pushCommand(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      bundle: { type: 'string' },
      'secret-id': { type: 'string' },
      s3: { type: 'string' },
      clients: { type: 'string' },
      create: { type: 'boolean', default: false },
      'dry-run': { type: 'boolean', default: false },
      force: { type: 'boolean', default: false },
      json: { type: 'boolean', default: false },
    },
  });
  if (positionals.length !== 1) throw new UsageError('crl push needs exactly one CRL file');
  if (!values.bundle) throw new UsageError('--bundle is required (the CAs that sign the CRLs)');
  const target = pushTarget(values);
  const crlPath = positionals[0]!;
  const bytes = readInput(crlPath, 'CRL');
  const bundlePem = readInput(values.bundle, 'bundle').toString('latin1');
  const json = values.json ?? false;
  const say = (result: Record<string, unknown>, text: string): void => {
    if (json) printJson(result);
    else process.stdout.write(text);
  };
  const check = checkCrl({
    source: crlPath,
    bytes,
    bundlePem,
    serials: [],
    now: Date.now(),
    graceSeconds: revocationPolicyFromEnv(process.env).graceSeconds,
  });
  if (check.errors > 0) {
    say(
      { pushed: false, reason: 'check_failed', check },
      `${format(check)}refused: the CRL has ${check.errors} error(s); nothing was written\n`,
    );
    return 1;
  }
  const where = target.kind === 's3' ? `s3://${target.bucket}/${target.key}` : target.secretId;
  let current: { version: string; bytes: Buffer } | undefined;
  try {
    current =
      target.kind === 's3'
        ? await (await import('../inspect/object-publish.js')).readCurrentObject(target.bucket, target.key)
        : await (await import('../inspect/secret-publish.js')).readCurrentSecret(target.secretId);
  } catch (err) {
    process.stderr.write(`mtls-gateway: crl push: ${(err as Error).message}\n`);
    return 1;
  }
  if (!current && target.kind === 'secretsmanager' && !target.create) {
    process.stderr.write(`mtls-gateway: crl push: secret '${where}' not found (--create makes it)\n`);
    return 1;
  }
  const clients = values.clients
    ? clientInputsFromDir(values.clients).map((c) => ({ name: c.name, pem: c.certPem }))
    : [];
  const diff = diffCrls({ oldBytes: current?.bytes ?? Buffer.alloc(0), newBytes: bytes, bundlePem, clients });
  const head = `current version of ${where}: ${current?.version ?? '(none yet)'}\n${formatDiff(diff)}`;
  const notTaken = diff.cas.filter((e) => e.new && !e.takesEffect && !e.unchanged);
  if (notTaken.length > 0) {
    say(
      { pushed: false, reason: 'not_newer', target: where, diff },
      `${head}refused: the gateway would keep the CRL in force for ${notTaken.map((e) => e.ca.subject).join('; ')}; nothing was written\n`,
    );
    return 1;
  }
  const revoked = diff.cas.flatMap((e) => e.newlyRevoked);
  const added = diff.cas.reduce((n, e) => n + e.added.length, 0);
  // Whom a push revokes must be known and meant: named clients, or an explicit --force.
  const needsForce =
    revoked.length > 0
      ? `it revokes ${revoked.map((c) => `${c.name} (${c.subject})`).join(', ')}`
      : added > 0 && clients.length === 0
        ? `it adds ${added} serial(s) and no --clients says whom they belong to`
        : undefined;
  if (needsForce && !values.force) {
    say(
      { pushed: false, reason: 'needs_force', why: needsForce, target: where, diff },
      `${head}refused: ${needsForce}; rerun with --force if that is meant (nothing was written)\n`,
    );
    return 1;
  }
  const identical = current !== undefined && Buffer.compare(current.bytes, bytes) === 0;
  let version: string | undefined;
  if (!values['dry-run'] && !identical) {
    try {
      version =
        target.kind === 's3'
          ? await (await import('../inspect/object-publish.js')).writeObject(target.bucket, target.key, bytes)
          : await (await import('../inspect/secret-publish.js')).writeSecret(
              target.secretId,
              asPemText(bytes),
              { force: values.force ?? false, create: current === undefined },
            );
    } catch (err) {
      process.stderr.write(`mtls-gateway: crl push: ${(err as Error).name}: ${(err as Error).message}\n`);
      return 1;
    }
  }
  const outcome = identical
    ? 'identical to the current version: nothing to write'
    : values['dry-run']
      ? 'dry run: nothing was written'
      : `pushed: new version ${version}`;
  say(
    {
      pushed: version !== undefined,
      target: where,
      previous_version: current?.version ?? null,
      version: version ?? null,
      dry_run: values['dry-run'],
      identical,
      forced: values.force,
      diff,
    },
    `${head}${outcome}\n`,
  );
  return 0;
}
