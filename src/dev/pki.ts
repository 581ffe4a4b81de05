/**
 * Development and test PKI: a root and intermediate CA, a server chain, client certificates for
 * every case the gateway distinguishes, and CRLs. Everything is generated fresh (ECDSA P-256),
 * nothing is committed. The root carries O=mtls-gateway development, which production refuses.
 * Never used on a production path.
 */
import 'reflect-metadata';
import { webcrypto } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as x509 from '@peculiar/x509';

type CryptoKey = webcrypto.CryptoKey;
type CryptoKeyPair = webcrypto.CryptoKeyPair;

x509.cryptoProvider.set('default', webcrypto as never);

export const DEV_ORGANIZATION = 'mtls-gateway development';
const ALG = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;
const DAY = 86_400_000;

export interface Issued {
  readonly cert: x509.X509Certificate;
  readonly keys: CryptoKeyPair;
  readonly certPem: string;
  readonly keyPem: string;
  /** Serial in `openssl x509 -serial` form. */
  readonly serialHex: string;
}

export interface IssueOptions {
  /** Subject in DER order, e.g. `O=Partner A, CN=partner-a` (printed by OpenSSL reversed). */
  readonly subject: string;
  readonly ca?: boolean;
  /** Days relative to now; defaults: -1 and +824 (leaves: 825 days in all, the CA/B limit testssl checks) or +3650 (CAs). */
  readonly notBeforeDays?: number;
  readonly notAfterDays?: number;
  /** Extended key usages; defaults to clientAuth for leaves, none for CAs. */
  readonly eku?: readonly string[];
  readonly dns?: readonly string[];
  readonly ips?: readonly string[];
  readonly uris?: readonly string[];
  readonly emails?: readonly string[];
  readonly serialHex?: string;
  /** Re-issue for an existing key pair (a renewed CA keeps its key); default: a new key. */
  readonly keys?: CryptoKeyPair;
}

export const EKU_CLIENT_AUTH = '1.3.6.1.5.5.7.3.2';
export const EKU_SERVER_AUTH = '1.3.6.1.5.5.7.3.1';

function randomSerial(): string {
  const bytes = webcrypto.getRandomValues(new Uint8Array(16));
  bytes[0] = (bytes[0]! & 0x7f) | 0x10; // positive, and no leading zero byte to strip
  return Buffer.from(bytes).toString('hex').toUpperCase();
}

/** PEM with a final newline, so that blocks concatenate into valid bundles. */
function pem(der: ArrayBuffer, label: string): string {
  return `${x509.PemConverter.encode(der, label).trimEnd()}\n`;
}

async function exportKeyPem(key: CryptoKey): Promise<string> {
  return pem(await webcrypto.subtle.exportKey('pkcs8', key), 'PRIVATE KEY');
}

/** Issues a certificate signed by `issuer`, or self-signed when `issuer` is undefined. */
export async function issue(issuer: Issued | undefined, opts: IssueOptions): Promise<Issued> {
  const keys =
    opts.keys ?? ((await webcrypto.subtle.generateKey(ALG, true, ['sign', 'verify'])) as CryptoKeyPair);
  const ca = opts.ca ?? false;
  const now = Date.now();
  const notBefore = new Date(now + (opts.notBeforeDays ?? -1) * DAY);
  const notAfter = new Date(now + (opts.notAfterDays ?? (ca ? 3650 : 824)) * DAY);
  const serialHex = opts.serialHex ?? randomSerial();
  const extensions: x509.Extension[] = [
    new x509.BasicConstraintsExtension(ca, undefined, true),
    new x509.KeyUsagesExtension(
      ca
        ? x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign
        : x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment,
      true,
    ),
    await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
  ];
  if (issuer) extensions.push(await x509.AuthorityKeyIdentifierExtension.create(issuer.keys.publicKey));
  const eku = opts.eku ?? (ca ? [] : [EKU_CLIENT_AUTH]);
  if (eku.length > 0) extensions.push(new x509.ExtendedKeyUsageExtension([...eku]));
  const names: x509.JsonGeneralName[] = [
    ...(opts.dns ?? []).map((value) => ({ type: 'dns' as const, value })),
    ...(opts.ips ?? []).map((value) => ({ type: 'ip' as const, value })),
    ...(opts.uris ?? []).map((value) => ({ type: 'url' as const, value })),
    ...(opts.emails ?? []).map((value) => ({ type: 'email' as const, value })),
  ];
  if (names.length > 0) extensions.push(new x509.SubjectAlternativeNameExtension(names));

  const common = { serialNumber: serialHex, notBefore, notAfter, signingAlgorithm: ALG, extensions };
  const cert = issuer
    ? await x509.X509CertificateGenerator.create({
        ...common,
        subject: opts.subject,
        issuer: issuer.cert.subject,
        publicKey: keys.publicKey,
        signingKey: issuer.keys.privateKey,
      })
    : await x509.X509CertificateGenerator.createSelfSigned({ ...common, name: opts.subject, keys });
  return {
    cert,
    keys,
    certPem: pem(cert.rawData, 'CERTIFICATE'),
    keyPem: await exportKeyPem(keys.privateKey),
    serialHex,
  };
}

export interface CrlOptions {
  /** `revokedAt`: epoch ms (default: an hour ago). */
  readonly revoked?: readonly { serialHex: string; reason?: x509.X509CrlReason; revokedAt?: number }[];
  readonly thisUpdateDays?: number;
  readonly nextUpdateDays?: number;
  readonly crlNumber?: number;
}

/** A CRL signed by `issuer`, PEM with the `X509 CRL` label OpenSSL expects. */
export async function makeCrl(issuer: Issued, opts: CrlOptions = {}): Promise<string> {
  const now = Date.now();
  const crl = await x509.X509CrlGenerator.create({
    issuer: issuer.cert.subject,
    thisUpdate: new Date(now + (opts.thisUpdateDays ?? -1 / 24) * DAY),
    nextUpdate: new Date(now + (opts.nextUpdateDays ?? 7) * DAY),
    signingAlgorithm: ALG,
    signingKey: issuer.keys.privateKey,
    entries: (opts.revoked ?? []).map((r) => ({
      serialNumber: r.serialHex,
      revocationDate: new Date(r.revokedAt ?? now - DAY / 24),
      reason: r.reason ?? x509.X509CrlReason.keyCompromise,
    })),
    extensions: [
      await x509.AuthorityKeyIdentifierExtension.create(issuer.keys.publicKey),
      new x509.Extension('2.5.29.20', false, crlNumber(opts.crlNumber ?? 1)),
    ],
  });
  return pem(crl.rawData, 'X509 CRL');
}

function crlNumber(n: number): ArrayBuffer {
  const hex = n.toString(16).padStart(2, '0');
  const even = hex.length % 2 ? `0${hex}` : hex;
  const body = Buffer.from(parseInt(even.slice(0, 2), 16) & 0x80 ? `00${even}` : even, 'hex');
  const der = Buffer.concat([Buffer.from([0x02, body.length]), body]);
  return der.buffer.slice(der.byteOffset, der.byteOffset + der.length);
}

export const CLIENT_NAMES = ['partner-a', 'partner-b', 'revoked', 'expired', 'untrusted'] as const;
export type ClientName = (typeof CLIENT_NAMES)[number];

export interface DevPki {
  readonly root: Issued;
  readonly intermediate: Issued;
  /** A CA outside the bundle, issuer of the `untrusted` client. */
  readonly rogue: Issued;
  readonly server: Issued;
  readonly clients: Readonly<Record<ClientName, Issued>>;
  readonly files: Readonly<Record<string, string>>;
}

/** Generates the whole development PKI in memory; `files` maps file names to contents. */
export async function generateDevPki(): Promise<DevPki> {
  const root = await issue(undefined, {
    subject: `O=${DEV_ORGANIZATION}, CN=mtls-gateway dev root CA`,
    ca: true,
  });
  const intermediate = await issue(root, {
    subject: `O=${DEV_ORGANIZATION}, CN=mtls-gateway dev intermediate CA`,
    ca: true,
  });
  const rogue = await issue(undefined, { subject: 'O=Not Trusted, CN=untrusted CA', ca: true });
  const server = await issue(intermediate, {
    subject: `O=${DEV_ORGANIZATION}, CN=localhost`,
    eku: [EKU_SERVER_AUTH],
    dns: ['localhost'],
    ips: ['127.0.0.1', '::1'],
  });
  const partner = (name: string, org: string): IssueOptions => ({
    subject: `O=${org}, CN=${name}`,
    dns: [`${name}.partners.example`],
    uris: [`spiffe://partners.example/${name}`],
  });
  const clients: Record<ClientName, Issued> = {
    'partner-a': await issue(intermediate, partner('partner-a', 'Partner A')),
    'partner-b': await issue(intermediate, partner('partner-b', 'Partner B')),
    revoked: await issue(intermediate, partner('revoked', 'Partner R')),
    expired: await issue(intermediate, {
      ...partner('expired', 'Partner E'),
      notBeforeDays: -30,
      notAfterDays: -1,
    }),
    untrusted: await issue(rogue, partner('untrusted', 'Not Trusted')),
  };
  const rootCrl = await makeCrl(root);
  const intermediateCrl = await makeCrl(intermediate, {
    revoked: [{ serialHex: clients.revoked.serialHex }],
  });

  const files: Record<string, string> = {
    'root-ca.pem': root.certPem,
    // The CA keys let `dev-pki issue-client` issue and revoke test partners later (development only).
    'root-ca-key.pem': root.keyPem,
    'intermediate-ca-key.pem': intermediate.keyPem,
    'ca-bundle.pem': intermediate.certPem + root.certPem,
    'server.pem': server.certPem + intermediate.certPem,
    'server-key.pem': server.keyPem,
    'crl.pem': rootCrl + intermediateCrl,
  };
  for (const name of CLIENT_NAMES) {
    const c = clients[name];
    // The chain a client sends: its leaf and the intermediate (the untrusted one has no intermediate).
    files[`${name}.pem`] = c.certPem;
    files[`${name}-key.pem`] = c.keyPem;
    files[`${name}-combined.pem`] = c.certPem + c.keyPem;
  }
  return { root, intermediate, rogue, server, clients, files };
}

/** Writes the development PKI to `dir` (keys readable by the owner only). */
export async function writeDevPki(dir: string): Promise<DevPki> {
  const pki = await generateDevPki();
  await mkdir(dir, { recursive: true });
  for (const [name, text] of Object.entries(pki.files)) {
    await writeFile(join(dir, name), text, {
      mode: name.includes('key') || name.includes('combined') ? 0o600 : 0o644,
    });
  }
  return pki;
}

/** Reads a CA (certificate + PKCS#8 key) written by writeDevPki back from disk. */
async function loadIssuer(certPem: string, keyPem: string): Promise<Issued> {
  const cert = new x509.X509Certificate(certPem);
  const keyDer = x509.PemConverter.decodeFirst(keyPem);
  const privateKey = await webcrypto.subtle.importKey('pkcs8', keyDer, ALG, true, ['sign']);
  const publicKey = await cert.publicKey.export(ALG, ['verify'], webcrypto as never);
  return {
    cert,
    keys: { privateKey, publicKey },
    certPem,
    keyPem,
    serialHex: cert.serialNumber.toUpperCase(),
  };
}

export interface IssueClientOptions {
  readonly name: string;
  /** Validity in days from now (default 824). */
  readonly days?: number;
  /** Also list the new certificate in the intermediate's CRL. */
  readonly revoke?: boolean;
}

export interface IssuedOnDisk {
  readonly files: readonly string[];
  readonly serialHex: string;
  /** The CRL number of the rewritten intermediate CRL, when one was written. */
  readonly crlNumber: number | undefined;
}

/**
 * Issues a client `CN=name,O=name` from the intermediate CA of the development PKI in `dir`
 * (`intermediate-ca-key.pem` must be there: PKIs written before it was kept must be regenerated).
 */
export async function issueClientOnDisk(dir: string, opts: IssueClientOptions): Promise<IssuedOnDisk> {
  const { readFile } = await import('node:fs/promises');
  const intermediate = await loadIssuer(
    await readFile(join(dir, 'ca-bundle.pem'), 'utf8').then(
      (t) => t.split(/(?<=-----END CERTIFICATE-----\n)/)[0]!,
    ),
    await readFile(join(dir, 'intermediate-ca-key.pem'), 'utf8'),
  );
  const client = await issue(intermediate, {
    subject: `O=${opts.name}, CN=${opts.name}`,
    dns: [`${opts.name}.partners.example`],
    uris: [`spiffe://partners.example/${opts.name}`],
    ...(opts.days === undefined ? {} : { notAfterDays: opts.days }),
  });
  const files: Record<string, string> = {
    [`${opts.name}.pem`]: client.certPem,
    [`${opts.name}-key.pem`]: client.keyPem,
    [`${opts.name}-combined.pem`]: client.certPem + client.keyPem,
  };
  for (const [name, text] of Object.entries(files)) {
    await writeFile(join(dir, name), text, {
      mode: name.endsWith('.pem') && name !== `${opts.name}.pem` ? 0o600 : 0o644,
    });
  }
  const crlNumber = opts.revoke ? await revokeOnDisk(dir, [client.serialHex]) : undefined;
  return { files: Object.keys(files), serialHex: client.serialHex, crlNumber };
}

/**
 * Rewrites the intermediate's CRL in `dir/crl.pem` with `serials` added (entries already listed
 * keep their dates and reasons) and the next CRL number; the other CRLs of the file stay as they
 * are. Returns the new CRL number.
 */
export async function revokeOnDisk(dir: string, serials: readonly string[]): Promise<number> {
  const { readFile } = await import('node:fs/promises');
  const intermediate = await loadIssuer(
    await readFile(join(dir, 'ca-bundle.pem'), 'utf8').then(
      (t) => t.split(/(?<=-----END CERTIFICATE-----\n)/)[0]!,
    ),
    await readFile(join(dir, 'intermediate-ca-key.pem'), 'utf8'),
  );
  const crlText = await readFile(join(dir, 'crl.pem'), 'utf8');
  const blocks = crlText.match(/-----BEGIN X509 CRL-----[\s\S]*?-----END X509 CRL-----\n?/g) ?? [];
  const mine = blocks.find((b) => new x509.X509Crl(b).issuer === intermediate.cert.subject);
  const current = mine ? new x509.X509Crl(mine) : undefined;
  const numberExt = current?.getExtension('2.5.29.20');
  const previous = numberExt
    ? Number.parseInt(Buffer.from(numberExt.value).subarray(2).toString('hex'), 16)
    : 0;
  const listed = (current?.entries ?? []).map((e) => ({
    serialHex: e.serialNumber.toUpperCase(),
    revokedAt: e.revocationDate.getTime(),
    ...(e.reason === undefined ? {} : { reason: e.reason }),
  }));
  const known = new Set(listed.map((e) => e.serialHex.replace(/^0+/, '')));
  const added = serials
    .map((s) => s.replaceAll(':', '').toUpperCase())
    .filter((s) => !known.has(s.replace(/^0+/, '')))
    .map((serialHex) => ({ serialHex }));
  const crlNumber = previous + 1;
  const crl = await makeCrl(intermediate, { revoked: [...listed, ...added], crlNumber });
  const others = blocks.filter((b) => b !== mine).map((b) => (b.endsWith('\n') ? b : `${b}\n`));
  await writeFile(join(dir, 'crl.pem'), [...others, crl].join(''));
  return crlNumber;
}
