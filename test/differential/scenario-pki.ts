/**
 * Test helper: PKI scenarios made with the openssl CLI (`openssl req` / `openssl ca`), for the
 * differential tests (OpenSSL is the oracle) and the end-to-end tests of issue 13. Every CA has its
 * own `openssl ca` directory; extensions are chosen per certificate, so a scenario can drop key
 * identifiers, narrow keyUsage or EKU, set pathLen, date a certificate in the past, or sign with an
 * "alias" certificate of the same key whose subject is encoded differently (PrintableString, other
 * case, other spacing). Everything lives in a temp folder (tempDir); nothing is committed. Not a test.
 */
import { spawnSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { appendFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { openssl } from '../trust/openssl-pki.js';

export interface CertFile {
  readonly name: string;
  readonly pemPath: string;
  readonly keyPath: string;
  readonly pem: string;
  readonly x509: X509Certificate;
  /** Upper-case hex, as index.txt and `openssl -serial` write it. */
  readonly serialHex: string;
}

export interface ExtOptions {
  /** Drop subjectKeyIdentifier and authorityKeyIdentifier. */
  readonly noKeyIds?: boolean;
  /** keyUsage value (after `critical,`); default per kind. */
  readonly keyUsage?: string;
  /** extendedKeyUsage (leaves); null: none. Default clientAuth. */
  readonly eku?: string | null;
  /** basicConstraints pathlen (CAs). */
  readonly pathLen?: number;
}

export interface IssueOptions extends ExtOptions {
  /** `openssl ca` -startdate / -enddate (YYYYMMDDHHMMSSZ). */
  readonly startDate?: string;
  readonly endDate?: string;
  /** Encode the subject as PrintableString where possible (string_mask = default). */
  readonly printable?: boolean;
  /** This serial number instead of the next one (to give two CAs' certificates the same serial). */
  readonly serial?: number;
}

function caExt(o: ExtOptions): string {
  const bc = `critical, CA:TRUE${o.pathLen === undefined ? '' : `, pathlen:${o.pathLen}`}`;
  return [
    `basicConstraints = ${bc}`,
    `keyUsage = critical, ${o.keyUsage ?? 'keyCertSign, cRLSign'}`,
    ...(o.noKeyIds ? [] : ['subjectKeyIdentifier = hash', 'authorityKeyIdentifier = keyid:always']),
  ].join('\n');
}

function leafExt(o: ExtOptions): string {
  const eku = o.eku === undefined ? 'clientAuth' : o.eku;
  return [
    'basicConstraints = critical, CA:FALSE',
    `keyUsage = critical, ${o.keyUsage ?? 'digitalSignature'}`,
    ...(eku === null ? [] : [`extendedKeyUsage = ${eku}`]),
    ...(o.noKeyIds ? [] : ['subjectKeyIdentifier = hash', 'authorityKeyIdentifier = keyid:always']),
  ].join('\n');
}

function reqConfig(printable: boolean): string {
  return `[ req ]\ndistinguished_name = dn\nprompt = no\n${printable ? 'string_mask = default\n' : 'string_mask = utf8only\n'}[ dn ]\nCN = unused\n`;
}

function load(name: string, pemPath: string, keyPath: string): CertFile {
  const pem = readFileSync(pemPath, 'utf8');
  const x509 = new X509Certificate(pem);
  return { name, pemPath, keyPath, pem, x509, serialHex: x509.serialNumber.toUpperCase() };
}

let serial = 0x2000;

/** One CA: its key, certificate and `openssl ca` database. */
export class ScenarioCa {
  private constructor(
    readonly dir: string,
    readonly config: string,
    readonly cert: CertFile,
  ) {}

  private static prepare(dir: string): string {
    mkdirSync(join(dir, 'newcerts'), { recursive: true });
    writeFileSync(join(dir, 'index.txt'), '');
    writeFileSync(join(dir, 'index.txt.attr'), 'unique_subject = no\n');
    writeFileSync(join(dir, 'crlnumber'), '01\n');
    writeFileSync(join(dir, 'req.cnf'), reqConfig(false));
    writeFileSync(join(dir, 'req-printable.cnf'), reqConfig(true));
    const config = join(dir, 'ca.cnf');
    writeFileSync(
      config,
      `[ ca ]\ndefault_ca = d\n[ d ]\ndir = ${dir}\ndatabase = $dir/index.txt\nnew_certs_dir = $dir/newcerts\ncertificate = $dir/ca.pem\nprivate_key = $dir/ca-key.pem\nserial = $dir/serial\ncrlnumber = $dir/crlnumber\ndefault_md = sha256\ndefault_days = 365\ndefault_crl_days = 7\npolicy = p\nunique_subject = no\nemail_in_dn = no\npreserve = yes\n[ p ]\ncommonName = supplied\norganizationName = optional\n[ crl_ext ]\nauthorityKeyIdentifier = keyid:always\n`,
    );
    openssl([
      'genpkey',
      '-algorithm',
      'EC',
      '-pkeyopt',
      'ec_paramgen_curve:P-256',
      '-out',
      join(dir, 'ca-key.pem'),
    ]);
    return config;
  }

  /** A self-signed root. */
  static root(dir: string, subject: string, o: ExtOptions & { printable?: boolean } = {}): ScenarioCa {
    const config = ScenarioCa.prepare(dir);
    const selfConfig = join(dir, 'self.cnf');
    writeFileSync(selfConfig, `${reqConfig(o.printable === true)}[ x ]\n${caExt(o)}\n`);
    const out = join(dir, 'ca.pem');
    openssl([
      'req',
      '-config',
      selfConfig,
      '-new',
      '-x509',
      '-key',
      join(dir, 'ca-key.pem'),
      '-subj',
      subject,
      '-days',
      '3650',
      '-sha256',
      '-set_serial',
      `0x${(serial++).toString(16)}`,
      '-extensions',
      'x',
      '-out',
      out,
    ]);
    return new ScenarioCa(dir, config, load(subject, out, join(dir, 'ca-key.pem')));
  }

  /**
   * Signs a CSR for `subject` with key `keyPath`; `signer` is the certificate named as issuer
   * (default: this CA's; an alias of the same key gives another issuer encoding).
   */
  private sign(
    name: string,
    keyPath: string,
    subject: string,
    ext: string,
    o: IssueOptions,
    signer?: string,
  ): CertFile {
    const csr = join(this.dir, `${name}.csr`);
    const out = join(this.dir, `${name}.pem`);
    openssl([
      'req',
      '-config',
      join(this.dir, o.printable ? 'req-printable.cnf' : 'req.cnf'),
      '-new',
      '-key',
      keyPath,
      '-subj',
      subject,
      '-out',
      csr,
    ]);
    const extFile = join(this.dir, `${name}.ext`);
    writeFileSync(extFile, `[ x ]\n${ext}\n`);
    const n = o.serial ?? serial++;
    const hex = n.toString(16).toUpperCase().padStart(4, '0');
    // `openssl ca` reads the serial file as whole octets.
    writeFileSync(join(this.dir, 'serial'), `${hex.length % 2 ? `0${hex}` : hex}\n`);
    openssl([
      'ca',
      '-config',
      this.config,
      '-batch',
      '-notext',
      '-preserveDN',
      ...(signer ? ['-cert', signer] : []),
      ...(o.startDate ? ['-startdate', o.startDate] : []),
      ...(o.endDate ? ['-enddate', o.endDate] : []),
      '-extfile',
      extFile,
      '-extensions',
      'x',
      '-in',
      csr,
      '-out',
      out,
    ]);
    return load(name, out, keyPath);
  }

  private newKey(name: string): string {
    const key = join(this.dir, `${name}-key.pem`);
    openssl(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', key]);
    return key;
  }

  /** An intermediate CA (its own directory under `dir`). */
  intermediate(dir: string, subject: string, o: IssueOptions = {}): ScenarioCa {
    const config = ScenarioCa.prepare(dir);
    const cert = this.sign(`ca-${serial}`, join(dir, 'ca-key.pem'), subject, caExt(o), o);
    writeFileSync(join(dir, 'ca.pem'), cert.pem);
    return new ScenarioCa(dir, config, load(subject, join(dir, 'ca.pem'), join(dir, 'ca-key.pem')));
  }

  /** A certificate of `other`'s key and subject issued by this CA (a cross-certificate). */
  crossSign(other: ScenarioCa, subject: string, o: IssueOptions = {}): CertFile {
    return this.sign(`cross-${serial}`, other.cert.keyPath, subject, caExt(o), o);
  }

  /**
   * A self-signed certificate of this CA's key under `subject` (another encoding of its name),
   * to issue leaves whose issuer field is encoded that way. Not meant for any bundle.
   */
  alias(subject: string, printable: boolean): string {
    const out = join(this.dir, `alias-${serial}.pem`);
    const aliasConfig = join(this.dir, 'alias.cnf');
    writeFileSync(aliasConfig, `${reqConfig(printable)}[ x ]\n${caExt({})}\n`);
    openssl([
      'req',
      '-config',
      aliasConfig,
      '-new',
      '-x509',
      '-key',
      this.cert.keyPath,
      '-subj',
      subject,
      '-days',
      '3650',
      '-set_serial',
      `0x${(serial++).toString(16)}`,
      '-extensions',
      'x',
      '-out',
      out,
    ]);
    return out;
  }

  /** A client certificate. `via`: an alias certificate path to name as issuer. */
  leaf(name: string, cn: string, o: IssueOptions & { via?: string } = {}): CertFile {
    return this.sign(name, this.newKey(name), `/CN=${cn}`, leafExt(o), o, o.via);
  }

  /** Marks `cert` (issued by this CA) revoked in the database; the next crl() lists it. */
  revoke(cert: CertFile): void {
    const db = readFileSync(join(this.dir, 'index.txt'), 'utf8');
    const lines = db
      .split('\n')
      .map((l) => {
        const f = l.split('\t');
        return f[3] === cert.serialHex && f[0] === 'V'
          ? `R\t${f[1]}\t240102030405Z,keyCompromise\t${f.slice(3).join('\t')}`
          : l;
      })
      .join('\n');
    if (lines === db) {
      appendFileSync(
        join(this.dir, 'index.txt'),
        `R\t350101000000Z\t240102030405Z,keyCompromise\t${cert.serialHex}\tunknown\t/CN=x\n`,
      );
    } else writeFileSync(join(this.dir, 'index.txt'), lines);
  }

  /** `openssl ca -gencrl` (with AKI); returns the PEM text. */
  crl(opts: { crlNumber?: number; lastUpdate?: string; nextUpdate?: string } = {}): string {
    if (opts.crlNumber !== undefined) {
      writeFileSync(
        join(this.dir, 'crlnumber'),
        `${opts.crlNumber.toString(16).padStart(2, '0').toUpperCase()}\n`,
      );
    }
    const out = join(this.dir, `crl-${serial++}.pem`);
    openssl([
      'ca',
      '-config',
      this.config,
      '-gencrl',
      '-crlexts',
      'crl_ext',
      ...(opts.lastUpdate ? ['-crl_lastupdate', opts.lastUpdate] : []),
      ...(opts.nextUpdate ? ['-crl_nextupdate', opts.nextUpdate] : []),
      '-out',
      out,
    ]);
    return readFileSync(out, 'utf8');
  }
}

/** OpenSSL's verdict: `ok`, or the verify error code name (Node's authorizationError form). */
export function opensslVerdict(opts: {
  caFile: string;
  crlFile: string;
  cert: string;
  untrusted?: string;
  all?: boolean;
}): string {
  const r = spawnSync(
    'openssl',
    [
      'verify',
      opts.all === false ? '-crl_check' : '-crl_check_all',
      '-purpose',
      'sslclient',
      '-CAfile',
      opts.caFile,
      '-CRLfile',
      opts.crlFile,
      ...(opts.untrusted ? ['-untrusted', opts.untrusted] : []),
      opts.cert,
    ],
    { encoding: 'utf8' },
  );
  if (r.status === 0) return 'ok';
  const m = /error (\d+) at/.exec(`${r.stdout}${r.stderr}`);
  return m ? (VERIFY_CODES[Number(m[1])] ?? `X509_V_ERR_${m[1]}`) : `unparsed: ${r.stderr}`;
}

/** X509_V_ERR_* numbers → the names Node gives socket.authorizationError. */
const VERIFY_CODES: Readonly<Record<number, string>> = {
  2: 'UNABLE_TO_GET_ISSUER_CERT',
  3: 'UNABLE_TO_GET_CRL',
  7: 'CERT_SIGNATURE_FAILURE',
  8: 'CRL_SIGNATURE_FAILURE',
  9: 'CERT_NOT_YET_VALID',
  10: 'CERT_HAS_EXPIRED',
  11: 'CRL_NOT_YET_VALID',
  12: 'CRL_HAS_EXPIRED',
  18: 'DEPTH_ZERO_SELF_SIGNED_CERT',
  19: 'SELF_SIGNED_CERT_IN_CHAIN',
  20: 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  21: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  23: 'CERT_REVOKED',
  24: 'INVALID_CA',
  25: 'PATH_LENGTH_EXCEEDED',
  26: 'INVALID_PURPOSE',
  32: 'KEYUSAGE_NO_CERTSIGN',
};

export function writeText(path: string, text: string): string {
  writeFileSync(path, text);
  return path;
}
