/**
 * Test certificates for the identity room: real `openssl` CLI certificates with awkward names,
 * and hand-built DER (signed with node:crypto) for what the CLI refuses to write, plus openssl's
 * own reading of each, which the tests compare against. Everything lives in a temp dir per run.
 */
import { execFileSync } from 'node:child_process';
import { generateKeyPairSync, type KeyObject, sign } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface OpensslView {
  readonly subject: string;
  readonly issuer: string;
  readonly serial: string;
  /** lower-case hex, colons removed */
  readonly fingerprint: string;
  readonly notBefore: number;
  readonly notAfter: number;
  /** `TYPE:value` entries as openssl prints them (latin1), split on ", " */
  readonly san: readonly string[];
}

export interface TestCert {
  readonly name: string;
  readonly der: Buffer;
  readonly pem: string;
  readonly path: string;
  readonly openssl: OpensslView;
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** `Nov 28 16:53:43 2026 GMT` → epoch ms. */
export function opensslDate(text: string): number {
  const m = /^(\w{3}) +(\d+) (\d\d):(\d\d):(\d\d) (\d{4}) GMT$/.exec(text.trim());
  if (!m) throw new Error(`unexpected openssl date '${text}'`);
  return Date.UTC(
    Number(m[6]),
    MONTHS.indexOf(m[1]!),
    Number(m[2]),
    Number(m[3]),
    Number(m[4]),
    Number(m[5]),
  );
}

export class Workdir {
  readonly dir = mkdtempSync(join(tmpdir(), 'mtls-identity-'));
  readonly keyPath = join(this.dir, 'key.pem');
  private n = 0;

  constructor() {
    this.openssl([
      'genpkey',
      '-algorithm',
      'EC',
      '-pkeyopt',
      'ec_paramgen_curve:P-256',
      '-out',
      this.keyPath,
    ]);
  }

  cleanup(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }

  openssl(args: readonly string[]): string {
    return execFileSync('openssl', args, { cwd: this.dir, stdio: ['ignore', 'pipe', 'pipe'] }).toString(
      'latin1',
    );
  }

  /** What openssl itself says about a certificate file. */
  view(path: string, inform: 'PEM' | 'DER' = 'PEM'): OpensslView {
    const out = this.openssl([
      'x509',
      '-inform',
      inform,
      '-in',
      path,
      '-noout',
      '-subject',
      '-issuer',
      '-serial',
      '-fingerprint',
      '-sha256',
      '-startdate',
      '-enddate',
      '-ext',
      'subjectAltName',
      '-nameopt',
      'RFC2253',
    ]);
    const lines = out.split('\n');
    const field = (prefix: string): string => {
      const line = lines.find((l) => l.startsWith(prefix));
      if (line === undefined) throw new Error(`openssl printed no ${prefix}\n${out}`);
      return line.slice(prefix.length);
    };
    const sanAt = lines.findIndex((l) => l.startsWith('X509v3 Subject Alternative Name'));
    const sanLine = sanAt >= 0 ? (lines[sanAt + 1] ?? '').trim() : '';
    return {
      subject: field('subject='),
      issuer: field('issuer='),
      serial: field('serial='),
      fingerprint: field('sha256 Fingerprint=').replaceAll(':', '').toLowerCase(),
      notBefore: opensslDate(field('notBefore=')),
      notAfter: opensslDate(field('notAfter=')),
      san: sanLine === '' ? [] : sanLine.split(', '),
    };
  }

  private load(name: string, path: string, inform: 'PEM' | 'DER'): TestCert {
    const raw = readFileSync(path);
    const der =
      inform === 'DER'
        ? raw
        : Buffer.from(
            raw
              .toString('latin1')
              .replace(/-----[^-]+-----/g, '')
              .replace(/\s+/g, ''),
            'base64',
          );
    const pem = inform === 'PEM' ? raw.toString('latin1') : '';
    return { name, der, pem, path, openssl: this.view(path, inform) };
  }

  /**
   * A certificate made by `openssl req -x509`: `subj` in -subj syntax (multi-valued RDNs on), or
   * `config` for a [dn] section written as a file (prompt=no), SANs from an [alt] section.
   */
  req(
    name: string,
    opts: {
      subj?: string;
      dn?: string;
      stringMask?: string;
      alt?: string;
      serial?: string;
      days?: number;
      ca?: TestCert;
    },
  ): TestCert {
    const i = this.n++;
    const cnf = join(this.dir, `c${i}.cnf`);
    const out = join(this.dir, `c${i}.pem`);
    const config =
      `[req]\ndistinguished_name=dn\nprompt=no\nutf8=yes\nstring_mask=${opts.stringMask ?? 'utf8only'}\n` +
      `[dn]\n${opts.dn ?? 'CN=unused'}\n[ext]\nbasicConstraints=critical,CA:TRUE\n` +
      (opts.alt ? 'subjectAltName=@alt\n' : '') +
      `[alt]\n${opts.alt ?? ''}\n`;
    writeFileSync(cnf, config);
    const args = ['req', '-x509', '-key', this.keyPath, '-config', cnf, '-extensions', 'ext', '-out', out];
    args.push('-days', String(opts.days ?? 30), '-set_serial', opts.serial ?? '0x1001');
    if (opts.subj !== undefined) args.push('-utf8', '-multivalue-rdn', '-subj', opts.subj);
    if (opts.ca) args.push('-CA', opts.ca.path, '-CAkey', this.keyPath);
    this.openssl(args);
    return this.load(name, out, 'PEM');
  }

  /** A hand-built DER certificate (see `handCert`), read back through openssl. */
  der(name: string, der: Buffer): TestCert {
    const path = join(this.dir, `d${this.n++}.der`);
    writeFileSync(path, der);
    return this.load(name, path, 'DER');
  }
}

// ---- a tiny DER writer, for names and SANs the openssl CLI will not produce ----

const lenBytes = (n: number): number[] => (n < 0x80 ? [n] : n < 0x100 ? [0x81, n] : [0x82, n >> 8, n & 255]);
export const tlv = (tag: number, body: Uint8Array | readonly number[]): Buffer => {
  const b = Buffer.from(body as Uint8Array);
  return Buffer.concat([Buffer.from([tag, ...lenBytes(b.length)]), b]);
};
export const seq = (...items: Buffer[]): Buffer => tlv(0x30, Buffer.concat(items));
export const set = (...items: Buffer[]): Buffer => tlv(0x31, Buffer.concat(items));
export function oid(dotted: string): Buffer {
  const p = dotted.split('.').map(Number);
  const out = [p[0]! * 40 + p[1]!];
  for (const v of p.slice(2)) {
    const b = [v & 127];
    for (let x = Math.floor(v / 128); x > 0; x = Math.floor(x / 128)) b.unshift((x & 127) | 128);
    out.push(...b);
  }
  return tlv(6, out);
}
/** One AttributeTypeAndValue with a raw string tag and bytes. */
export const atv = (type: string, tag: number, bytes: Uint8Array | readonly number[]): Buffer =>
  seq(oid(type), tlv(tag, bytes));
export const utf8 = (s: string): Buffer => Buffer.from(s, 'utf8');

let handKey: { privateKey: KeyObject; spki: Buffer } | undefined;

/** A signed v3 certificate with the given Name DERs, serial content bytes and SAN GeneralNames. */
export function handCert(opts: {
  subject: Buffer;
  issuer?: Buffer;
  serial?: readonly number[];
  san?: readonly Buffer[];
  notBefore?: string;
  notAfter?: string;
}): Buffer {
  if (!handKey) {
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    handKey = { privateKey, spki: publicKey.export({ type: 'spki', format: 'der' }) };
  }
  const alg = seq(oid('1.2.840.10045.4.3.2'));
  const exts = opts.san ? [tlv(0xa3, seq(seq(oid('2.5.29.17'), tlv(0x04, seq(...opts.san)))))] : [];
  const tbs = seq(
    tlv(0xa0, tlv(2, [2])),
    tlv(2, opts.serial ?? [0x01]),
    alg,
    opts.issuer ?? opts.subject,
    seq(
      tlv(0x17, utf8(opts.notBefore ?? '250101000000Z')),
      tlv(0x18, utf8(opts.notAfter ?? '20271126120000Z')),
    ),
    opts.subject,
    handKey.spki,
    ...exts,
  );
  const sig = sign('sha256', tbs, handKey.privateKey);
  return seq(tbs, alg, tlv(3, Buffer.concat([Buffer.from([0]), sig])));
}
