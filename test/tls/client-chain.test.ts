/**
 * The gate's chain rebuild (finding 4 of issue 13): every link signature-checked, even a lone
 * candidate; the chain must end at a self-signed CA of the bundle; issuers found across name
 * encodings; backtracking when the first fitting issuer leads nowhere.
 */
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { buildClientChain, isAnchoredIn } from '../../src/tls/client-chain.js';
import { parseCaBundle } from '../../src/trust/ca-bundle.js';
import { ScenarioCa } from '../differential/scenario-pki.js';
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
