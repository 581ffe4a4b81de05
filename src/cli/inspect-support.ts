/**
 * What the security-team commands share: reading files (a usage error when one is missing),
 * client certificate inputs, the revocation policy from the gateway's own variables, progress on
 * a TTY only, and finding lines.
 */
import { X509Certificate } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { basename, join } from 'node:path';
import { type ClientCertificateInput, clientInputFromPem, type Finding } from '../inspect/index.js';
import type { RevocationPolicy } from '../tls/connection-gate.js';

export { printJson } from './json-output.js';

import { UsageError } from './usage-error.js';

export function readInput(path: string, what: string): Buffer {
  try {
    return readFileSync(path);
  } catch (err) {
    throw new UsageError(`${what} '${path}' cannot be read (${(err as NodeJS.ErrnoException).code ?? err})`);
  }
}

/**
 * A client certificate file, with its key when the file holds one (NAME-combined.pem) or
 * NAME-key.pem sits next to NAME.pem: the key allows a real TLS handshake.
 */
export function clientInput(path: string, keyPath?: string): ClientCertificateInput {
  const text = readInput(path, 'client certificate').toString('latin1');
  const sibling = path.replace(/\.pem$/, '-key.pem');
  const key =
    keyPath !== undefined
      ? readInput(keyPath, 'key').toString('latin1')
      : sibling !== path && existsSync(sibling)
        ? readFileSync(sibling, 'latin1')
        : undefined;
  try {
    return clientInputFromPem(basename(path), text, key);
  } catch (err) {
    throw new UsageError(`client certificate '${path}': ${(err as Error).message}`);
  }
}

/** Every certificate PEM in a folder (key-only files skipped; the same certificate counted once). */
function isCaCertificate(pem: string): boolean {
  try {
    return new X509Certificate(pem).ca;
  } catch {
    return false; // unreadable: the verdict will say so
  }
}

export function clientInputsFromDir(dir: string): ClientCertificateInput[] {
  if (!statSync(dir, { throwIfNoEntry: false })?.isDirectory())
    throw new UsageError(`'${dir}' is not a folder`);
  const out: ClientCertificateInput[] = [];
  const seen = new Set<string>();
  for (const name of readdirSync(dir).sort()) {
    if (!/\.(pem|crt)$/.test(name)) continue;
    const text = readFileSync(join(dir, name), 'latin1');
    if (!text.includes('-----BEGIN CERTIFICATE-----')) continue;
    const input = clientInput(join(dir, name));
    const leaf = input.certPem.split('-----END CERTIFICATE-----')[0]!;
    // A folder of a partner's files holds its CA certificates too: only end-entity certificates
    // are clients (a CA file counted as a "client" would lose or gain access with its own bundle).
    if (isCaCertificate(`${leaf}-----END CERTIFICATE-----\n`)) continue;
    if (seen.has(leaf)) continue;
    seen.add(leaf);
    out.push(input);
  }
  return out;
}

/** GATEWAY_CRL_GRACE_SECONDS and GATEWAY_CRL_REQUIRED, as the gateway reads them. */
export function revocationPolicyFromEnv(env: NodeJS.ProcessEnv): RevocationPolicy {
  const grace = Number(env.GATEWAY_CRL_GRACE_SECONDS ?? '0');
  return {
    graceSeconds: Number.isFinite(grace) && grace > 0 ? grace : 0,
    crlRequired: env.GATEWAY_CRL_REQUIRED === 'true',
  };
}

export function positiveInteger(name: string, text: string | undefined, fallback: number): number {
  if (text === undefined) return fallback;
  const n = Number(text);
  if (!Number.isInteger(n) || n < 0) throw new UsageError(`--${name} must be a whole number of days`);
  return n;
}

/** A progress line on stderr, only when stderr is a terminal (nothing extra when piped). */
export function progress(label: string): ((done: number, total: number) => void) | undefined {
  if (process.stderr.isTTY !== true) return undefined;
  return (done, total) => {
    process.stderr.write(`\r${label} ${done}/${total}`);
    if (done === total) process.stderr.write('\n');
  };
}

export function findingLines(findings: readonly Finding[], indent = '  '): string {
  return findings.map((f) => `${indent}${f.severity.padEnd(7)} ${f.code}: ${f.message}\n`).join('');
}
