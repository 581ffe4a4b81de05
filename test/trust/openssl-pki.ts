/**
 * Test helper: a real OpenSSL CA in a temp dir (`openssl ca`), so CRL tests compare our verdicts
 * with `openssl verify -crl_check` on CRLs and certificates OpenSSL itself produced. Not a test.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { createPrivateKey, type KeyObject, X509Certificate } from 'node:crypto';
import { appendFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type ParsedCertificate, parseCertificate } from '../../src/asn1/certificate.js';

export function openssl(args: string[], cwd?: string): string {
  return execFileSync('openssl', args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

const made: string[] = [];

export function tempDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  made.push(dir);
  return dir;
}

/** Removes every directory tempDir made (call from afterAll). */
export function removeTempDirs(): void {
  for (const dir of made.splice(0)) rmSync(dir, { recursive: true, force: true });
}

export interface Cert {
  readonly pemPath: string;
  readonly pem: string;
  readonly x509: X509Certificate;
  readonly parsed: ParsedCertificate;
}

function loadCert(path: string): Cert {
  const pem = readFileSync(path, 'utf8');
  const x509 = new X509Certificate(pem);
  return { pemPath: path, pem, x509, parsed: parseCertificate(x509.raw) };
}

export type KeySpec = 'ec' | 'rsa' | 'ed25519';

function keyArgs(spec: KeySpec): string[] {
  if (spec === 'ec') return ['-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256'];
  if (spec === 'rsa') return ['-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048'];
  return ['-algorithm', 'ED25519'];
}

/** One CA directory with its own `openssl ca` config. */
export class OpensslCa {
  readonly cert: Cert;
  readonly key: KeyObject;
  private leafCount = 0;

  private constructor(
    readonly dir: string,
    readonly config: string,
  ) {
    this.cert = loadCert(join(dir, 'ca.pem'));
    this.key = createPrivateKey(readFileSync(join(dir, 'ca-key.pem')));
  }

  private static prepare(dir: string, keySpec: KeySpec): string {
    mkdirSync(join(dir, 'newcerts'), { recursive: true });
    writeFileSync(join(dir, 'index.txt'), '');
    writeFileSync(join(dir, 'index.txt.attr'), 'unique_subject = no\n');
    writeFileSync(join(dir, 'serial'), '1000\n');
    writeFileSync(join(dir, 'crlnumber'), '01\n');
    const md = keySpec === 'ed25519' ? 'default' : 'sha256';
    const config = join(dir, 'ca.cnf');
    writeFileSync(
      config,
      `[ ca ]
default_ca = CA_default
[ CA_default ]
dir = ${dir}
database = $dir/index.txt
new_certs_dir = $dir/newcerts
certificate = $dir/ca.pem
private_key = $dir/ca-key.pem
serial = $dir/serial
crlnumber = $dir/crlnumber
default_md = ${md}
default_days = 365
default_crl_days = 7
policy = policy_any
unique_subject = no
email_in_dn = no
[ policy_any ]
commonName = supplied
organizationName = optional
[ req ]
distinguished_name = req_dn
prompt = no
[ req_dn ]
CN = unused
[ crl_ext ]
authorityKeyIdentifier = keyid:always
[ ca_ext ]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
[ leaf_ext ]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = clientAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
`,
    );
    openssl(['genpkey', ...keyArgs(keySpec), '-out', join(dir, 'ca-key.pem')]);
    return config;
  }

  /** A self-signed root CA. */
  static root(dir: string, subject: string, keySpec: KeySpec = 'ec'): OpensslCa {
    const config = OpensslCa.prepare(dir, keySpec);
    const md = keySpec === 'ed25519' ? [] : ['-sha256'];
    openssl([
      'req',
      '-config',
      config,
      '-new',
      '-x509',
      '-key',
      join(dir, 'ca-key.pem'),
      '-subj',
      subject,
      '-days',
      '3650',
      ...md,
      '-extensions',
      'ca_ext',
      '-out',
      join(dir, 'ca.pem'),
    ]);
    return new OpensslCa(dir, config);
  }

  /** An intermediate CA issued by this CA. */
  intermediate(dir: string, subject: string, keySpec: KeySpec = 'ec'): OpensslCa {
    const config = OpensslCa.prepare(dir, keySpec);
    const csr = join(dir, 'ca.csr');
    openssl([
      'req',
      '-config',
      config,
      '-new',
      '-key',
      join(dir, 'ca-key.pem'),
      '-subj',
      subject,
      '-out',
      csr,
    ]);
    openssl([
      'ca',
      '-config',
      this.config,
      '-batch',
      '-notext',
      '-extensions',
      'ca_ext',
      '-in',
      csr,
      '-out',
      join(dir, 'ca.pem'),
    ]);
    return new OpensslCa(dir, config);
  }

  /** A client certificate (with its own EC key) issued by this CA. */
  leaf(cn: string): Cert {
    const n = ++this.leafCount;
    const key = join(this.dir, `leaf${n}-key.pem`);
    const csr = join(this.dir, `leaf${n}.csr`);
    const out = join(this.dir, `leaf${n}.pem`);
    openssl(['genpkey', ...keyArgs('ec'), '-out', key]);
    openssl(['req', '-config', this.config, '-new', '-key', key, '-subj', `/CN=${cn}`, '-out', csr]);
    openssl([
      'ca',
      '-config',
      this.config,
      '-batch',
      '-notext',
      '-extensions',
      'leaf_ext',
      '-in',
      csr,
      '-out',
      out,
    ]);
    return loadCert(out);
  }

  revoke(cert: Cert, reason = 'keyCompromise'): void {
    openssl(['ca', '-config', this.config, '-revoke', cert.pemPath, '-crl_reason', reason]);
  }

  /** Appends `R` lines for synthetic serials straight to index.txt (fast bulk revocation). */
  revokeBulk(serials: readonly string[], reason = 'keyCompromise'): void {
    const lines = serials.map((s) => `R\t350101000000Z\t240102030405Z,${reason}\t${s}\tunknown\t/CN=x\n`);
    appendFileSync(join(this.dir, 'index.txt'), lines.join(''));
  }

  /** `openssl ca -gencrl`; returns the PEM path. */
  gencrl(
    file: string,
    opts: { exts?: boolean; lastUpdate?: string; nextUpdate?: string; extra?: string[] } = {},
  ): string {
    const out = join(this.dir, file);
    const args = ['ca', '-config', this.config, '-gencrl', '-out', out];
    if (opts.exts) args.push('-crlexts', 'crl_ext');
    if (opts.lastUpdate) args.push('-crl_lastupdate', opts.lastUpdate);
    if (opts.nextUpdate) args.push('-crl_nextupdate', opts.nextUpdate);
    args.push(...(opts.extra ?? []));
    openssl(args);
    return out;
  }
}

export function toDer(crlPem: string, out: string): string {
  openssl(['crl', '-in', crlPem, '-outform', 'DER', '-out', out]);
  return out;
}

/** `openssl verify` exit status: true when OpenSSL accepts the certificate. */
export function opensslVerifies(opts: {
  caFile: string;
  crlFile: string;
  cert: string;
  all?: boolean;
}): boolean {
  const r = spawnSync(
    'openssl',
    [
      'verify',
      opts.all ? '-crl_check_all' : '-crl_check',
      '-CAfile',
      opts.caFile,
      '-CRLfile',
      opts.crlFile,
      opts.cert,
    ],
    { encoding: 'utf8' },
  );
  return r.status === 0;
}
