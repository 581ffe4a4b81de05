/**
 * Decides a client certificate offline exactly as the gateway would. With the client's private key
 * a real TLS handshake runs in memory: a `tls.createServer` built from the gateway's own
 * `secureContextOptions` (requestCert, rejectUnauthorized false, as the listener) meets a
 * `tls.connect` presenting the certificate, so OpenSSL itself verifies the chain, and the gateway's
 * `verifyNewConnection` (the one gate: classification, chain rebuild, revocation index) decides the
 * rest. Without the key no handshake is possible; then the chain is checked with Node's X509
 * primitives in OpenSSL's order (issuer and signature, CA flags, path length, purpose, validity)
 * and the same gate code takes over from the verified chain on. The method used is always reported.
 */
import { X509Certificate } from 'node:crypto';
import { Duplex } from 'node:stream';
import { createServer as createTlsServer, type TLSSocket, connect as tlsConnect } from 'node:tls';
import { OID_EKU_CLIENT_AUTH, type ParsedCertificate, parseCertificate } from '../asn1/certificate.js';
import { formatRfc2253 } from '../asn1/name.js';
import { EKU_SERVER_AUTH, issue } from '../dev/pki.js';
import { buildClientChain, type ChainElement, isAnchoredIn } from '../tls/client-chain.js';
import {
  acceptedVerdict,
  type RevocationPolicy,
  type Verdict,
  verifyNewConnection,
} from '../tls/connection-gate.js';
import {
  classifyHandshakeError,
  classifyVerifyError,
  type RefusalReason,
  refusalMessage,
} from '../tls/refusal.js';
import { secureContextOptions } from '../tls/secure-context.js';
import { type CaBundle, nameKey } from '../trust/ca-bundle.js';
import { splitPem } from '../trust/pem.js';
import type { RevocationIndex } from '../trust/revocation-index.js';
import type { ServerCredentials } from '../trust/server-credentials.js';
import type { TrustSnapshot } from '../trust/snapshot.js';
import { pathLengthOf } from './certificate-facts.js';

/** The trust material a decision is made against, as one gateway snapshot would hold it. */
export interface TrustUnderTest {
  readonly bundle: CaBundle;
  readonly revocation: RevocationIndex;
  readonly policy: RevocationPolicy;
}

export interface ClientCertificateInput {
  /** Where it came from (a file name), for the report. */
  readonly name: string;
  /** The leaf first, then whatever chain the client sends. */
  readonly certPem: string;
  /** The private key, when known: enables the real handshake. */
  readonly keyPem: string | undefined;
}

export type VerificationMethod = 'tls-handshake' | 'certificate-checks';

export interface ClientDecision {
  readonly name: string;
  readonly method: VerificationMethod;
  readonly verdict: Verdict;
}

/** Splits a PEM file into its certificates and (optional) private key. */
export function clientInputFromPem(name: string, text: string, keyText?: string): ClientCertificateInput {
  const { blocks } = splitPem(text);
  const certs = blocks.filter((b) => b.label === 'CERTIFICATE');
  if (certs.length === 0) throw new Error(`${name}: no CERTIFICATE block`);
  const certPem = certs.map((b) => new X509Certificate(b.der).toString()).join('');
  const keyBlock = [...blocks, ...(keyText ? splitPem(keyText).blocks : [])].find((b) =>
    b.label.endsWith('PRIVATE KEY'),
  );
  const keyPem = keyBlock
    ? `-----BEGIN ${keyBlock.label}-----\n${keyBlock.der.toString('base64').replace(/.{1,64}/g, '$&\n')}-----END ${keyBlock.label}-----\n`
    : undefined;
  return { name, certPem, keyPem };
}

let serverCredentials: Promise<ServerCredentials> | undefined;

/** A throwaway server identity for the in-memory handshake (the client never checks it). */
function offlineServer(): Promise<ServerCredentials> {
  serverCredentials ??= issue(undefined, {
    subject: 'CN=mtls-gateway offline verification',
    eku: [EKU_SERVER_AUTH],
    notAfterDays: 1,
  }).then((s) => ({
    certPem: s.certPem,
    keyPem: s.keyPem,
    subject: 'CN=mtls-gateway offline verification',
    notAfter: s.cert.notAfter.getTime(),
  }));
  return serverCredentials;
}

/** Two connected in-memory streams: what one writes, the other reads. */
function duplexPair(): [Duplex, Duplex] {
  const sides: Duplex[] = [];
  const make = (other: () => Duplex): Duplex =>
    new Duplex({
      read() {},
      write(chunk, _enc, done) {
        other().push(chunk);
        done();
      },
      final(done) {
        other().push(null);
        done();
      },
    });
  sides.push(
    make(() => sides[1]!),
    make(() => sides[0]!),
  );
  return [sides[0]!, sides[1]!];
}

function snapshotOf(trust: TrustUnderTest, server: ServerCredentials, now: number): TrustSnapshot {
  const info = { source: 'offline', version: 'offline', loadedAt: now };
  return {
    generation: 0,
    caBundle: trust.bundle,
    caBundleInfo: info,
    server,
    serverInfo: info,
    revocation: trust.revocation,
  };
}

const HANDSHAKE_TIMEOUT_MS = 10_000;

async function decideByHandshake(
  input: ClientCertificateInput & { keyPem: string },
  trust: TrustUnderTest,
): Promise<Verdict> {
  const snapshot = snapshotOf(trust, await offlineServer(), Date.now());
  // The listener's options (listener.ts): the gateway's secure context, certificate requested,
  // failures left to the gate.
  const server = createTlsServer({
    ...secureContextOptions(snapshot.caBundle, snapshot.server),
    requestCert: true,
    rejectUnauthorized: false,
  });
  const [serverSide, clientSide] = duplexPair();
  return new Promise<Verdict>((resolve) => {
    let settled = false;
    const finish = (verdict: Verdict): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      client.destroy();
      serverSide.destroy();
      resolve(verdict);
    };
    const failed = (reason: RefusalReason, detail: string): Verdict => ({
      ok: false,
      reason,
      presented: {},
      detail,
      message: refusalMessage(reason),
    });
    const timer = setTimeout(
      () => finish(failed('timeout', 'in-memory handshake timed out')),
      HANDSHAKE_TIMEOUT_MS,
    );
    server.once('secureConnection', (socket: TLSSocket) => {
      finish(verifyNewConnection(socket, snapshot, trust.policy, Date.now()));
    });
    server.once('tlsClientError', (err: Error) => finish(failed(classifyHandshakeError(err), err.message)));
    server.emit('connection', serverSide);
    const client = tlsConnect({
      socket: clientSide,
      cert: input.certPem,
      key: input.keyPem,
      rejectUnauthorized: false,
    });
    client.on('error', (err) => {
      // The server's verdict is what counts; a client-side failure before it means no handshake.
      setImmediate(() => finish(failed('protocol', `client: ${err.message}`)));
    });
  });
}

interface Link {
  readonly element: ChainElement;
  readonly pathLength: number | undefined;
}

/** OpenSSL verify error codes for a chain without a handshake; the last one found wins, as in OpenSSL. */
function chainErrors(chain: readonly Link[], bundle: CaBundle, now: number): string | undefined {
  let error: string | undefined;
  const top = chain[chain.length - 1]!.element;
  const selfSigned = top.x509.checkIssued(top.x509) && top.x509.verify(top.x509.publicKey);
  if (!bundle.byFingerprint.has(top.fingerprint256)) {
    error =
      chain.length === 1 && selfSigned
        ? 'DEPTH_ZERO_SELF_SIGNED_CERT'
        : selfSigned
          ? 'SELF_SIGNED_CERT_IN_CHAIN'
          : 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY';
  } else if (!selfSigned) {
    error = 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY'; // no partial chains: it must end in a bundle root
  }
  // check_chain_extensions: CA flags, path length, purpose (sslclient) on every element.
  for (let i = 0; i < chain.length; i++) {
    const { element, pathLength } = chain[i]!;
    const eku = element.parsed.extKeyUsage;
    if (i > 0 && !element.parsed.isCa) error = 'INVALID_CA';
    if (eku && !eku.includes(OID_EKU_CLIENT_AUTH)) error = 'INVALID_PURPOSE';
    if (i > 1 && pathLength !== undefined && i - 1 > pathLength) error = 'PATH_LENGTH_EXCEEDED';
  }
  // internal_verify: from the anchor down to the leaf, signature then validity.
  for (let i = chain.length - 1; i >= 0; i--) {
    const { element } = chain[i]!;
    const issuer = chain[i + 1]?.element ?? (selfSigned && i === chain.length - 1 ? element : undefined);
    if (issuer && i < chain.length - 1 && !element.x509.verify(issuer.x509.publicKey)) {
      error = 'CERT_SIGNATURE_FAILURE';
    }
    if (element.parsed.notBefore > now) error = 'CERT_NOT_YET_VALID';
    if (element.parsed.notAfter < now) error = 'CERT_HAS_EXPIRED';
  }
  return error;
}

function decideByCertificateChecks(
  input: ClientCertificateInput,
  trust: TrustUnderTest,
  now: number,
): Verdict {
  const certs = splitPem(input.certPem).blocks.map((b) => new X509Certificate(b.der));
  const leaf = certs[0]!;
  const sent = certs.slice(1);
  let parsedLeaf: ParsedCertificate;
  try {
    parsedLeaf = parseCertificate(leaf.raw);
  } catch (err) {
    return {
      ok: false,
      reason: 'bad_certificate',
      presented: {},
      detail: `unparsable certificate: ${(err as Error).message}`,
    };
  }
  const presented = {
    subject: formatRfc2253(parsedLeaf.subjectDer),
    serial: parsedLeaf.serialHex,
    issuer: formatRfc2253(parsedLeaf.issuerDer),
  };
  let elements: ChainElement[];
  try {
    elements = buildClientChain(leaf, sent, trust.bundle, parsedLeaf);
  } catch (err) {
    return {
      ok: false,
      reason: 'bad_certificate',
      presented,
      detail: `unparsable certificate in chain: ${(err as Error).message}`,
    };
  }
  // buildClientChain links only issuers OpenSSL's checkIssued accepts and whose signature verifies.
  const linked = elements;
  const chain = linked.map((element) => ({ element, pathLength: pathLengthOf(element.x509.raw) }));
  let code = chainErrors(chain, trust.bundle, now);
  // No anchored path: an issuer that fits by name and key id but whose signature fails is what
  // OpenSSL reports (it picks the issuer first and checks the signature later).
  const top = linked[linked.length - 1]!;
  if (code === 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY' && !isAnchoredIn(linked, trust.bundle)) {
    const named = trust.bundle.bySubject.get(nameKey(top.parsed.issuerDer)) ?? [];
    if (named.some((ca) => top.x509.checkIssued(ca.x509) && !top.x509.verify(ca.x509.publicKey))) {
      code = 'CERT_SIGNATURE_FAILURE';
    }
  }
  if (code) {
    const reason = classifyVerifyError(code);
    const facts = {
      chain: [parsedLeaf, ...sent.map((c) => parseCertificate(c.raw))].map((c) => ({
        subject: formatRfc2253(c.subjectDer),
        notBefore: c.notBefore,
        notAfter: c.notAfter,
      })),
      now,
      issuer: presented.issuer,
    };
    return { ok: false, reason, presented, detail: code, message: refusalMessage(reason, facts) };
  }
  const parsedChain = linked.map((e) => e.parsed);
  const revocation = trust.revocation.check(parsedChain, now, trust.policy);
  if (!revocation.ok) {
    return {
      ok: false,
      reason: revocation.reason,
      presented,
      detail: `${revocation.reason}: serial ${revocation.serial} issued by ${revocation.issuer}`,
      message: refusalMessage(revocation.reason, { serial: revocation.serial, issuer: revocation.issuer }),
    };
  }
  return acceptedVerdict(leaf, sent, parsedLeaf, linked);
}

export interface DecideOptions {
  /** Epoch ms; only the certificate checks honour it (a handshake runs at the real time). */
  readonly now?: number;
  /** Force the certificate checks even when a key is present (diffing two bundles offline). */
  readonly withoutHandshake?: boolean;
}

export async function decideClient(
  input: ClientCertificateInput,
  trust: TrustUnderTest,
  opts: DecideOptions = {},
): Promise<ClientDecision> {
  const realTime = opts.now === undefined;
  if (input.keyPem && realTime && !opts.withoutHandshake) {
    const verdict = await decideByHandshake({ ...input, keyPem: input.keyPem }, trust);
    return { name: input.name, method: 'tls-handshake', verdict };
  }
  const verdict = decideByCertificateChecks(input, trust, opts.now ?? Date.now());
  return { name: input.name, method: 'certificate-checks', verdict };
}
