/**
 * Differential test of the gate, OpenSSL as the oracle. A seeded generator builds PKI scenarios
 * with the openssl CLI (scenario-pki.ts): string-type variants of one name, same-name twin CAs
 * (with and without key identifiers, with colliding serials), key rollover with a cross-signed
 * root (both roots trusted, or only the old one), an intermediate revoked by its root's CRL, an
 * expired intermediate, wrong EKU or keyUsage, a pathLen violation, a CA certificate used as a
 * client certificate; each client sends its leaf only or its full chain. All scenarios share one CA bundle and one CRL file (the oracle gets
 * exactly the gateway's material, so sharing is sound), and one real gateway (explain mode,
 * GATEWAY_CRL_REQUIRED=true) decides every client over a real handshake. The expected verdict is
 * `openssl verify -crl_check_all -purpose sslclient`; the only tolerated differences are the
 * documented policy ones, named in POLICY_DIFFERENCES.
 *
 * CI runs a fixed seed set (every kind twice); `npm run test:differential -- --count N` runs N
 * scenarios (DIFFERENTIAL_COUNT), `--seed S` changes the base seed (DIFFERENTIAL_SEED).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { classifyVerifyError } from '../../src/tls/refusal.js';
import { get, presentingAgent, startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { makeTestPki, type TestPki } from '../helpers/pki.js';
import { mulberry32 } from '../helpers/prng.js';
import { removeTempDirs, tempDir } from '../trust/openssl-pki.js';
import { type CertFile, opensslVerdict, ScenarioCa, writeText } from './scenario-pki.js';

const KINDS = [
  'string-variant',
  'twins',
  'twins-no-key-ids',
  'rollover',
  'rollover-old-root-only',
  'revoked-intermediate',
  'expired-intermediate',
  'wrong-eku',
  'wrong-key-usage',
  'path-len',
  'ca-as-client',
  'no-root-crl',
  'crl-in-grace',
] as const;
type Kind = (typeof KINDS)[number];

const COUNT = Number(process.env.DIFFERENTIAL_COUNT ?? KINDS.length * 2);
const BASE_SEED = Number(process.env.DIFFERENTIAL_SEED ?? 13);
const GRACE_SECONDS = 3600;

/**
 * Documented policy differences (README "Trust rules"), the only cases where the gateway may
 * differ from `openssl verify -crl_check_all`.
 */
const POLICY_DIFFERENCES: Readonly<Record<string, { oracle: string; ours: string; why: string }>> = {
  'no-root-crl': {
    oracle: 'UNABLE_TO_GET_CRL',
    ours: 'accepted',
    why: 'a leaf-issuer CRL suffices when higher CRLs are absent',
  },
  'crl-in-grace': {
    oracle: 'CRL_HAS_EXPIRED',
    ours: 'accepted',
    why: 'a CRL past nextUpdate still counts for GATEWAY_CRL_GRACE_SECONDS',
  },
};

interface Client {
  readonly id: string;
  readonly kind: Kind;
  readonly cert: CertFile;
  /** PEM of the certificates the client sends after its leaf ('' = leaf only). */
  readonly chain: string;
}

interface World {
  bundle: string;
  crls: string;
  clients: Client[];
  crlSigners: ScenarioCa[];
}

/** openssl ca date form, `days` from now. */
function caDate(days: number): string {
  return `${new Date(Date.now() + days * 86_400_000).toISOString().replace(/[-:T]/g, '').slice(0, 14)}Z`;
}

function build(kind: Kind, seed: number, dir: string, w: World): void {
  const rnd = mulberry32(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!;
  const id = `S${seed}`;
  const sub = (name: string): string => join(dir, `${id}-${name}`);
  const sendChain = (): boolean => rnd() < 0.5;
  const add = (name: string, cert: CertFile, chain: readonly CertFile[], forceChain = false): void => {
    const send = forceChain || sendChain();
    w.clients.push({
      id: `${id}/${kind}/${name}${send ? '+chain' : ''}`,
      kind,
      cert,
      chain: send ? chain.map((c) => c.pem).join('') : '',
    });
  };
  const trust = (...cas: ScenarioCa[]): void => {
    for (const ca of cas) w.bundle += ca.cert.pem;
  };
  const crl = (ca: ScenarioCa, opts: Parameters<ScenarioCa['crl']>[0] = {}): void => {
    w.crls += ca.crl(opts);
  };
  const root = ScenarioCa.root(sub('root'), `/O=Differential/CN=${id} Root`, {
    ...(kind === 'path-len' ? { pathLen: 0 } : {}),
  });
  trust(root);
  switch (kind) {
    case 'string-variant': {
      const ca = root.intermediate(sub('ca'), `/O=Partner ${id}/CN=Issuing CA ${id}`);
      const variant = pick(['printable', 'upper', 'spaces'] as const);
      const alias =
        variant === 'printable'
          ? ca.alias(`/O=Partner ${id}/CN=Issuing CA ${id}`, true)
          : variant === 'upper'
            ? ca.alias(`/O=PARTNER ${id}/CN=ISSUING ca ${id.toLowerCase()}`, false)
            : ca.alias(`/O=Partner  ${id}/CN=Issuing   CA ${id}`, false);
      const good = ca.leaf(`good-${variant}`, `${id}-good`, { via: alias });
      const revoked = ca.leaf(`revoked-${variant}`, `${id}-revoked`, { via: alias });
      ca.revoke(revoked);
      trust(ca);
      crl(root);
      crl(ca);
      add(`good-${variant}`, good, [ca.cert]);
      add(`revoked-${variant}`, revoked, [ca.cert]);
      return;
    }
    case 'twins':
    case 'twins-no-key-ids': {
      const noKeyIds = kind === 'twins-no-key-ids';
      const a = root.intermediate(sub('a'), `/CN=Twin CA ${id}`, { noKeyIds });
      const b = root.intermediate(sub('b'), `/CN=Twin CA ${id}`, { noKeyIds });
      // Colliding serials: a revocation by A must never touch B's certificate of the same serial.
      const serial = 0x7000 + seed;
      const aLeaf = a.leaf('a', `${id}-a`, { noKeyIds, serial });
      const bLeaf = b.leaf('b', `${id}-b`, { noKeyIds, serial });
      const revokeA = rnd() < 0.5;
      if (revokeA) a.revoke(aLeaf);
      else b.revoke(bLeaf);
      trust(a, b);
      crl(root);
      const high = 10 + Math.floor(rnd() * 80);
      crl(a, { crlNumber: revokeA ? 1 : high });
      crl(b, { crlNumber: revokeA ? high : 1 });
      add('a', aLeaf, [a.cert]);
      add('b', bLeaf, [b.cert]);
      return;
    }
    case 'rollover': {
      // New root of the same name, cross-signed by the old one; both roots trusted.
      const newRoot = ScenarioCa.root(sub('root2'), `/O=Differential/CN=${id} Root`);
      const cross = root.crossSign(newRoot, `/O=Differential/CN=${id} Root`);
      const ca = newRoot.intermediate(sub('ca'), `/CN=${id} Issuing CA`);
      const good = ca.leaf('good', `${id}-good`);
      const revokeCa = rnd() < 0.5;
      if (revokeCa) newRoot.revoke(ca.cert);
      else root.revoke(cross); // the old root withdraws its cross-certificate: the new path stands
      trust(newRoot, ca);
      crl(root);
      crl(newRoot);
      crl(ca);
      add(revokeCa ? 'ca-revoked' : 'cross-revoked', good, [ca.cert, cross]);
      return;
    }
    case 'rollover-old-root-only': {
      // Only the old root (and the intermediate) are trusted; the client sends the cross-certificate
      // that would bridge to the old root. OpenSSL, trusted-first, takes the intermediate from the
      // bundle and then searches only the bundle, where the new root is missing: both must refuse.
      const newRoot = ScenarioCa.root(sub('root2'), `/O=Differential/CN=${id} Root`);
      const cross = root.crossSign(newRoot, `/O=Differential/CN=${id} Root`);
      const ca = newRoot.intermediate(sub('ca'), `/CN=${id} Issuing CA`);
      const good = ca.leaf('good', `${id}-good`);
      const revokeCa = rnd() < 0.5;
      if (revokeCa) newRoot.revoke(ca.cert);
      trust(ca);
      crl(root);
      crl(newRoot);
      crl(ca);
      add(revokeCa ? 'ca-revoked' : 'good', good, [cross], true);
      return;
    }
    case 'revoked-intermediate': {
      const ca = root.intermediate(sub('ca'), `/CN=${id} Revoked CA`);
      const leaf = ca.leaf('leaf', `${id}-leaf`);
      root.revoke(ca.cert);
      trust(ca);
      crl(root);
      crl(ca);
      add('leaf', leaf, [ca.cert]);
      return;
    }
    case 'expired-intermediate': {
      // Not in the bundle (the gateway refuses expired CAs there): the client sends it.
      const ca = root.intermediate(sub('ca'), `/CN=${id} Expired CA`, {
        startDate: caDate(-400),
        endDate: caDate(-30),
      });
      const leaf = ca.leaf('leaf', `${id}-leaf`, { startDate: caDate(-100), endDate: caDate(200) });
      crl(root);
      crl(ca);
      add('leaf', leaf, [ca.cert], true);
      return;
    }
    case 'wrong-eku':
    case 'wrong-key-usage': {
      const ca = root.intermediate(sub('ca'), `/CN=${id} Issuing CA`);
      const leaf =
        kind === 'wrong-eku'
          ? ca.leaf('leaf', `${id}-leaf`, { eku: pick(['serverAuth', 'emailProtection']) })
          : ca.leaf('leaf', `${id}-leaf`, { keyUsage: pick(['keyEncipherment', 'keyCertSign']) });
      trust(ca);
      crl(root);
      crl(ca);
      add('leaf', leaf, [ca.cert]);
      return;
    }
    case 'path-len': {
      const ca = root.intermediate(sub('ca'), `/CN=${id} Too Deep CA`);
      const leaf = ca.leaf('leaf', `${id}-leaf`);
      trust(ca);
      crl(root);
      crl(ca);
      add('leaf', leaf, [ca.cert]);
      return;
    }
    case 'ca-as-client': {
      const signing = rnd() < 0.5;
      const ca = root.intermediate(sub('ca'), `/CN=${id} CA As Client`, {
        ...(signing ? { keyUsage: 'digitalSignature, keyCertSign, cRLSign' } : {}),
      });
      trust(ca);
      crl(root);
      crl(ca);
      add(signing ? 'ca-digital-signature' : 'ca', ca.cert, []);
      return;
    }
    case 'no-root-crl': {
      const ca = root.intermediate(sub('ca'), `/CN=${id} Issuing CA`);
      const leaf = ca.leaf('leaf', `${id}-leaf`);
      trust(ca);
      crl(ca); // no root CRL
      add('leaf', leaf, [ca.cert]);
      return;
    }
    case 'crl-in-grace': {
      const ca = root.intermediate(sub('ca'), `/CN=${id} Issuing CA`);
      const leaf = ca.leaf('leaf', `${id}-leaf`);
      trust(ca);
      crl(root);
      // nextUpdate ten minutes ago: within GRACE_SECONDS.
      const tenMinutesAgo = `${new Date(Date.now() - 600_000).toISOString().replace(/[-:T]/g, '').slice(0, 14)}Z`;
      crl(ca, { lastUpdate: caDate(-1), nextUpdate: tenMinutesAgo });
      add('leaf', leaf, [ca.cert]);
      return;
    }
  }
}

/** The reason the gateway gives for an OpenSSL verify result. */
function expectedReason(code: string): string {
  if (code === 'ok') return 'accepted';
  if (code === 'UNABLE_TO_GET_CRL') return 'crl_missing';
  if (code === 'CRL_HAS_EXPIRED') return 'crl_expired';
  return classifyVerifyError(code);
}

let pki: TestPki;
let gw: TestGateway;
const world: World = { bundle: '', crls: '', clients: [], crlSigners: [] };
let dir: string;

beforeAll(async () => {
  pki = await makeTestPki();
  dir = tempDir('gate-differential-');
  for (let i = 0; i < COUNT; i++) build(KINDS[i % KINDS.length]!, BASE_SEED * 1000 + i, dir, world);
  writeText(join(dir, 'bundle.pem'), world.bundle);
  writeText(join(dir, 'crls.pem'), world.crls);
  gw = await startTestGateway(pki, {
    GATEWAY_CA_BUNDLE: join(dir, 'bundle.pem'),
    GATEWAY_CRLS: join(dir, 'crls.pem'),
    GATEWAY_VERIFY_MODE: 'explain',
    GATEWAY_CRL_REQUIRED: 'true',
    GATEWAY_CRL_GRACE_SECONDS: String(GRACE_SECONDS),
  });
}, 120_000);

afterAll(async () => {
  await gw?.close();
  await pki?.cleanup();
  removeTempDirs();
});

async function gatewayVerdict(client: Client): Promise<string> {
  const agent = presentingAgent(pki, {
    cert: client.cert.pem + client.chain,
    key: readFileSync(client.cert.keyPath),
  });
  try {
    const res = await get(`${gw.url}/differential`, agent);
    return res.status === 200 ? 'accepted' : (res.json<{ error?: string }>().error ?? `status ${res.status}`);
  } catch (err) {
    return `client error: ${(err as Error).message}`;
  } finally {
    await agent.close();
  }
}

describe(`gate vs openssl verify (${COUNT} scenarios, base seed ${BASE_SEED})`, () => {
  it('every client gets OpenSSL’s verdict, except the named policy differences', async () => {
    const disagreements: string[] = [];
    const tolerated: string[] = [];
    const verdicts = new Map<string, number>();
    const bundle = join(dir, 'bundle.pem');
    const crls = join(dir, 'crls.pem');
    for (const client of world.clients) {
      const untrusted = client.chain
        ? writeText(join(dir, `${client.cert.name}-${verdicts.size}-chain.pem`), client.chain)
        : undefined;
      const oracle = opensslVerdict({
        caFile: bundle,
        crlFile: crls,
        cert: client.cert.pemPath,
        ...(untrusted ? { untrusted } : {}),
      });
      const ours = await gatewayVerdict(client);
      const expected = expectedReason(oracle);
      verdicts.set(`${client.kind}:${ours}`, (verdicts.get(`${client.kind}:${ours}`) ?? 0) + 1);
      if (ours === expected) continue;
      const difference = POLICY_DIFFERENCES[client.kind];
      if (difference && difference.oracle === oracle && difference.ours === ours) {
        tolerated.push(`${client.id}: ${difference.why}`);
        continue;
      }
      disagreements.push(`${client.id}: openssl ${oracle} (→ ${expected}), gateway ${ours}`);
    }
    expect(disagreements).toEqual([]);
    // The generator really produced both outcomes, and the named differences did occur.
    const outcomes = [...verdicts.keys()];
    expect(outcomes.some((k) => k.endsWith(':accepted'))).toBe(true);
    expect(outcomes.some((k) => k.endsWith(':revoked'))).toBe(true);
    expect(outcomes.some((k) => k.endsWith(':bad_certificate'))).toBe(true);
    if (COUNT >= KINDS.length) expect(tolerated.length).toBeGreaterThanOrEqual(2);
    console.info(
      `differential: ${world.clients.length} clients in ${COUNT} scenarios, ${disagreements.length} disagreements, ${tolerated.length} tolerated policy differences; ${[...verdicts].map(([k, n]) => `${k}×${n}`).join(' ')}`,
    );
  }, 300_000);
});
