/**
 * The gate's chain rebuild (finding 4 of issue 13): every link signature-checked, even a lone
 * candidate; the chain must end at a self-signed CA of the bundle; issuers found across name
 * encodings; backtracking when the first fitting issuer leads nowhere.
 */
import { generateKeyPairSync, type KeyObject, sign, X509Certificate } from 'node:crypto';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  buildClientChain,
  type ChainElement,
  isAnchoredIn,
  isSelfSigned,
} from '../../src/tls/client-chain.js';
import { parseCaBundle } from '../../src/trust/ca-bundle.js';
import { ScenarioCa } from '../differential/scenario-pki.js';
import { atv, oid, seq, set, tlv, utf8 } from '../identity/fixtures.js';
import { removeTempDirs, tempDir } from '../trust/openssl-pki.js';

afterAll(removeTempDirs);

const bundleOf = (...cas: ScenarioCa[]) =>
  parseCaBundle(Buffer.from(cas.map((c) => c.cert.pem).join('')), { now: Date.now(), production: false });

describe('buildClientChain', () => {
  const dir = tempDir('client-chain-');
  const root = ScenarioCa.root(join(dir, 'root'), '/CN=Chain Root');
  const real = root.intermediate(join(dir, 'real'), '/CN=Shared Name CA', { noKeyIds: true });
  const impostor = root.intermediate(join(dir, 'impostor'), '/CN=Shared Name CA', { noKeyIds: true });

  it('refuses a lone same-name candidate whose key did not sign the leaf', () => {
    const leaf = impostor.leaf('impostor-leaf', 'impostor-leaf', { noKeyIds: true });
    const bundle = bundleOf(root, real);
    const chain = buildClientChain(leaf.x509, [], bundle);
    expect(chain.map((c) => c.x509.subject)).toEqual(['CN=impostor-leaf']);
    expect(isAnchoredIn(chain, bundle)).toBe(false);
    // With the right CA in the bundle it chains, whatever the order.
    const both = bundleOf(root, real, impostor);
    const ok = buildClientChain(leaf.x509, [], both);
    expect(ok.map((c) => c.fingerprint256)).toEqual([
      expect.any(String),
      impostor.cert.x509.fingerprint256.replaceAll(':', '').toLowerCase(),
      root.cert.x509.fingerprint256.replaceAll(':', '').toLowerCase(),
    ]);
    expect(isAnchoredIn(ok, both)).toBe(true);
  });

  it('is anchored only at a self-signed CA of the bundle it is given', () => {
    const leaf = real.leaf('real-leaf', 'real-leaf', { noKeyIds: true });
    const withRoot = bundleOf(root, real);
    expect(isAnchoredIn(buildClientChain(leaf.x509, [], withRoot), withRoot)).toBe(true);
    const other = ScenarioCa.root(join(dir, 'other'), '/CN=Other Root');
    const withoutRoot = bundleOf(other);
    // The client sends its intermediate; the root is not in this bundle.
    const chain = buildClientChain(leaf.x509, [real.cert.x509], withoutRoot);
    expect(chain).toHaveLength(2);
    expect(isAnchoredIn(chain, withoutRoot)).toBe(false);
  });

  it('finds the issuer across name encodings and backtracks past a dead end', () => {
    const ca = root.intermediate(join(dir, 'utf8'), '/CN=Encoded CA');
    const printable = ca.alias('/CN=Encoded CA', true);
    const leaf = ca.leaf('encoded-leaf', 'encoded-leaf', { via: printable });
    const bundle = bundleOf(root, ca);
    const chain = buildClientChain(leaf.x509, [], bundle);
    expect(chain).toHaveLength(3);
    expect(isAnchoredIn(chain, bundle)).toBe(true);
    // Rollover: only the old root is trusted; the client sends its intermediate (issued by the new
    // root's key) and the cross-certificate (new key, old root's signature), which bridges to it.
    const newRoot = ScenarioCa.root(join(dir, 'root2'), '/CN=Chain Root');
    const cross = root.crossSign(newRoot, '/CN=Chain Root');
    const issuing = newRoot.intermediate(join(dir, 'issuing2'), '/CN=Issuing Two');
    const client = issuing.leaf('rollover-leaf', 'rollover-leaf');
    const oldOnly = bundleOf(root);
    const bridged = buildClientChain(client.x509, [issuing.cert.x509, cross.x509], oldOnly);
    expect(bridged).toHaveLength(4);
    expect(isAnchoredIn(bridged, oldOnly)).toBe(true);
  });
});

/**
 * Certificates built in memory (P-256 keys, hand-assembled DER, no openssl): cheap enough to make
 * dozens per run, so the search order, the budget, the depth bound and the cache are pinned with
 * exact chains.
 */
describe('buildClientChain on in-memory certificates', () => {
  interface Key {
    readonly privateKey: KeyObject;
    readonly spki: Buffer;
  }
  const key = (): Key => {
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    return { privateKey, spki: publicKey.export({ type: 'spki', format: 'der' }) };
  };
  const alg = seq(oid('1.2.840.10045.4.3.2'));
  const dn = (cn: string): Buffer => seq(set(atv('2.5.4.3', 0x0c, utf8(cn))));
  const time = (ms: number): Buffer =>
    tlv(0x18, utf8(`${new Date(ms).toISOString().slice(0, 19).replace(/[-:T]/g, '')}Z`));
  const DAY = 86_400_000;
  let serial = 1;
  /** DER of a certificate `subject` with `key`, issued (named and signed) by `issuer`/`signer`. */
  function der(o: {
    subject: string;
    issuer?: string;
    key: Key;
    signer?: Key;
    ca?: boolean;
    notBefore?: number;
    notAfter?: number;
  }): Buffer {
    const n = serial++;
    const exts = o.ca
      ? [tlv(0xa3, seq(seq(oid('2.5.29.19'), tlv(1, [0xff]), tlv(4, seq(tlv(1, [0xff]))))))]
      : [];
    const tbs = seq(
      tlv(0xa0, tlv(2, [2])),
      tlv(2, [0x01, (n >> 8) & 0xff, n & 0xff]),
      alg,
      dn(o.issuer ?? o.subject),
      seq(time(o.notBefore ?? Date.now() - DAY), time(o.notAfter ?? Date.now() + 365 * DAY)),
      dn(o.subject),
      o.key.spki,
      ...exts,
    );
    const sig = sign('sha256', tbs, (o.signer ?? o.key).privateKey);
    return seq(tbs, alg, tlv(3, Buffer.concat([Buffer.from([0]), sig])));
  }
  const x = (d: Buffer): X509Certificate => new X509Certificate(d);
  const fp = (c: X509Certificate | Buffer): string =>
    (Buffer.isBuffer(c) ? x(c) : c).fingerprint256.replaceAll(':', '').toLowerCase();
  const ids = (chain: readonly ChainElement[]): string[] => chain.map((c) => c.fingerprint256);
  const bundleOf = (...ders: Buffer[]) =>
    parseCaBundle(Buffer.from(ders.map((d) => x(d).toString()).join('')), {
      now: Date.now(),
      production: false,
    });

  const kR = key();
  const kI = key();
  const kD = key();
  const root = der({ subject: 'Root', key: kR, ca: true });
  const issuing = der({ subject: 'Issuing', issuer: 'Root', key: kI, signer: kR, ca: true });
  const issuingTwo = der({ subject: 'Issuing Two', issuer: 'Root', key: key(), signer: kR, ca: true });
  const leaf = der({ subject: 'leaf', issuer: 'Issuing', key: key(), signer: kI });
  /** Same name as the issuing CA, another key: each costs a signature check and fails it. */
  const decoys = Array.from({ length: 64 }, () =>
    der({ subject: 'Issuing', issuer: 'Root', key: kD, ca: true }),
  );
  const unrelated = Array.from({ length: 64 }, () => der({ subject: 'Unrelated', key: kD, ca: true }));
  /** Fresh objects: the link cache is per issuer object, so each test starts with none cached. */
  const fresh = (ders: readonly Buffer[]): X509Certificate[] => ders.map(x);

  it('isSelfSigned needs both its own name as issuer and a signature by its own key', () => {
    expect(isSelfSigned(x(root))).toBe(true);
    // Signed by its own key, but naming another issuer.
    expect(isSelfSigned(x(der({ subject: 'Self', issuer: 'Other', key: kR, ca: true })))).toBe(false);
    // Naming itself, but signed by another key.
    expect(isSelfSigned(x(der({ subject: 'Self', key: kR, signer: kI, ca: true })))).toBe(false);
  });

  it('isAnchoredIn: only a non-empty chain whose top is a self-signed CA of the bundle', () => {
    const bundle = bundleOf(root, issuing);
    expect(isAnchoredIn([], bundle)).toBe(false);
    const otherRoot = x(der({ subject: 'Other Root', key: key(), ca: true }));
    const unanchored = buildClientChain(otherRoot, [], bundle);
    expect(ids(unanchored)).toEqual([fp(otherRoot)]);
    expect(isAnchoredIn(unanchored, bundle)).toBe(false);
    // The top is a bundle CA, but not self-signed.
    expect(isAnchoredIn(buildClientChain(x(issuing), [], bundleOf(issuing)), bundle)).toBe(false);
    expect(isAnchoredIn(buildClientChain(x(leaf), [], bundle), bundle)).toBe(true);
  });

  it('spends at most 64 signature checks per chain', () => {
    const chainWith = (n: number) =>
      ids(buildClientChain(x(leaf), [...fresh(decoys.slice(0, n)), x(issuing)], bundleOf(root)));
    // 62 failed checks + leaf→issuing + issuing→root = 64.
    expect(chainWith(62)).toEqual([fp(leaf), fp(issuing), fp(root)]);
    // The 65th check (issuing→root) is refused: the longest checked path comes back.
    expect(chainWith(63)).toEqual([fp(leaf), fp(issuing)]);
    expect(chainWith(64)).toEqual([fp(leaf)]);
  });

  it('a cached link costs no check, and the cache keeps every child of an issuer', () => {
    const bundle = bundleOf(root);
    expect(ids(buildClientChain(x(issuing), [], bundle))).toEqual([fp(issuing), fp(root)]);
    expect(ids(buildClientChain(x(issuingTwo), [], bundle))).toEqual([fp(issuingTwo), fp(root)]);
    // 63 failed checks + leaf→issuing = 64; issuing→root is known from the first call.
    const chain = buildClientChain(x(leaf), [...fresh(decoys.slice(0, 63)), x(issuing)], bundle);
    expect(ids(chain)).toEqual([fp(leaf), fp(issuing), fp(root)]);
  });

  it('forgets the links of an issuer once 1000 are cached', () => {
    const bundle = bundleOf(root);
    const budgetSpent = () =>
      ids(buildClientChain(x(leaf), [...fresh(decoys.slice(0, 63)), x(issuing)], bundle));
    expect(ids(buildClientChain(x(issuing), [], bundle))).toEqual([fp(issuing), fp(root)]);
    // 999 more children of the root's name (not signed by it): 1000 links cached.
    const children = Array.from({ length: 1000 }, () => der({ subject: 'child', issuer: 'Root', key: kD }));
    for (const child of children.slice(0, 999))
      expect(buildClientChain(x(child), [], bundle)).toHaveLength(1);
    expect(budgetSpent()).toEqual([fp(leaf), fp(issuing), fp(root)]);
    // The 1001st clears them: issuing→root must be checked again, and the budget is spent.
    expect(buildClientChain(x(children[999]!), [], bundle)).toHaveLength(1);
    expect(budgetSpent()).toEqual([fp(leaf), fp(issuing)]);
  });

  it('sent certificates with another subject are not candidates and cost no check', () => {
    const chain = buildClientChain(x(leaf), [...fresh(unrelated), x(issuing)], bundleOf(root));
    expect(ids(chain)).toEqual([fp(leaf), fp(issuing), fp(root)]);
  });

  describe('prefers a currently valid issuer, then falls back to the others', () => {
    const kN = key();
    const dated = (notBefore: number, notAfter: number): Buffer =>
      der({ subject: 'Dated', issuer: 'Root', key: kN, signer: kR, ca: true, notBefore, notAfter });
    const datedLeaf = der({ subject: 'dated-leaf', issuer: 'Dated', key: key(), signer: kN });
    const now = Date.now();
    const expired = dated(now - 400 * DAY, now - 30 * DAY);
    const future = dated(now + 30 * DAY, now + 400 * DAY);
    const current = dated(now - DAY, now + 400 * DAY);
    const t0 = Date.UTC(2030, 0, 1);
    const t1 = Date.UTC(2031, 0, 1);
    const edge = dated(t0, t1);
    const later = dated(t1 + DAY, t1 + 2 * DAY);
    const first = (sent: Buffer[], at?: number): string =>
      buildClientChain(x(datedLeaf), fresh(sent), bundleOf(root), undefined, at)[1]!.fingerprint256;

    it('over an expired or a not yet valid one sent before it', () => {
      expect(first([expired, current])).toBe(fp(current));
      expect(first([future, current])).toBe(fp(current));
      expect(first([current, expired])).toBe(fp(current));
    });

    it('valid from notBefore to notAfter inclusive', () => {
      expect(first([later, edge], t0)).toBe(fp(edge));
      expect(first([later, edge], t1)).toBe(fp(edge));
      expect(first([later, edge], t1 + 1000)).toBe(fp(later));
    });

    it('an expired issuer is still used when it is the only one', () => {
      const chain = buildClientChain(x(datedLeaf), [x(expired)], bundleOf(root));
      expect(ids(chain)).toEqual([fp(datedLeaf), fp(expired), fp(root)]);
    });
  });

  describe('depth-first search', () => {
    const kA = key();
    const kX = key();
    const branchLeaf = der({ subject: 'branch-leaf', issuer: 'Branch', key: key(), signer: kA });
    const lost1 = der({ subject: 'Branch', issuer: 'Lost CA', key: kA, signer: kX, ca: true });
    const lost2 = der({ subject: 'Branch', issuer: 'Lost CA', key: kA, signer: kX, ca: true });
    const lostCa = der({ subject: 'Lost CA', issuer: 'Further CA', key: kX, signer: key(), ca: true });
    const good = der({ subject: 'Branch', issuer: 'Root', key: kA, signer: kR, ca: true });

    it('returns the first longest path when none is anchored', () => {
      const chain = buildClientChain(x(branchLeaf), fresh([lost1, lost2]), bundleOf(root));
      expect(ids(chain)).toEqual([fp(branchLeaf), fp(lost1)]);
    });

    it('backtracks from a longer dead end to the anchored path', () => {
      const bundle = bundleOf(root);
      const chain = buildClientChain(x(branchLeaf), fresh([lost1, lostCa, good]), bundle);
      expect(ids(chain)).toEqual([fp(branchLeaf), fp(good), fp(root)]);
      expect(isAnchoredIn(chain, bundle)).toBe(true);
    });

    it('stops at 10 certificates', () => {
      const kZ = key();
      const cas = Array.from({ length: 9 }, (_, i) =>
        der({
          subject: `Depth ${i + 1}`,
          issuer: i === 0 ? 'Root' : `Depth ${i}`,
          key: kZ,
          signer: i === 0 ? kR : kZ,
          ca: true,
        }),
      );
      const leafUnder = (n: number): Buffer =>
        der({ subject: `depth-leaf-${n}`, issuer: `Depth ${n}`, key: key(), signer: kZ });
      const bundle = bundleOf(root);
      const leaf8 = leafUnder(8);
      const ten = buildClientChain(x(leaf8), fresh(cas), bundle);
      expect(ids(ten)).toEqual([fp(leaf8), ...cas.slice(0, 8).reverse().map(fp), fp(root)]);
      expect(isAnchoredIn(ten, bundle)).toBe(true);
      const leaf9 = leafUnder(9);
      const eleven = buildClientChain(x(leaf9), fresh(cas), bundle);
      expect(ids(eleven)).toEqual([fp(leaf9), ...cas.slice().reverse().map(fp)]);
      expect(isAnchoredIn(eleven, bundle)).toBe(false);
    });

    it('does not go round a cycle of certificates that issued each other', () => {
      const kP = key();
      const kQ = key();
      const loopX = der({ subject: 'Loop X', issuer: 'Loop Y', key: kP, signer: kQ, ca: true });
      const loopY = der({ subject: 'Loop Y', issuer: 'Loop X', key: kQ, signer: kP, ca: true });
      const loopLeaf = der({ subject: 'loop-leaf', issuer: 'Loop X', key: key(), signer: kP });
      const chain = buildClientChain(x(loopLeaf), fresh([loopX, loopY]), bundleOf(root));
      expect(ids(chain)).toEqual([fp(loopLeaf), fp(loopX), fp(loopY)]);
    });
  });
});
