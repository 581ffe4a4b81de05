/**
 * Attack (issue 13 review): a CRL that `openssl ca -gencrl` itself wrote, one of whose entries has
 * a revocationDate UTCTime without seconds (`2401020304Z`, from an index.txt line; X.680 allows it,
 * RFC 5280 says SHOULD include seconds). OpenSSL loads the CRL, never needs that date, and
 * `openssl verify -crl_check_all` says CERT_REVOKED for every listed client. The gateway's one time
 * rule rejects the WHOLE CRL (CRL_MALFORMED), so the CA has no CRL in force and, with
 * GATEWAY_CRL_REQUIRED=false (the default), every client it revoked is served. One odd entry
 * un-revokes all the others.
 */
import { createPrivateKey } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Agent } from 'undici';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { parseCertificate } from '../../src/asn1/certificate.js';
import { opensslVerdict, ScenarioCa, writeText } from '../differential/scenario-pki.js';
import { get, startTestGateway } from '../helpers/gateway.js';
import { makeTestPki, type TestPki } from '../helpers/pki.js';
import { akiExt, buildCrl, crlNumberExt, extension, octet } from '../trust/crl-builder.js';
import { removeTempDirs, tempDir } from '../trust/openssl-pki.js';

let pki: TestPki;
let dir: string;

beforeAll(async () => {
  pki = await makeTestPki();
  dir = tempDir('attack-lenient-crl-time-');
});

afterAll(async () => {
  await pki?.cleanup();
  removeTempDirs();
});

it('a CRL OpenSSL loads and enforces is enforced here too (or the client refused)', async () => {
  const root = ScenarioCa.root(join(dir, 'root'), '/CN=Time Root');
  const inter = root.intermediate(join(dir, 'inter'), '/CN=Time Issuing CA');
  const revoked = inter.leaf('revoked', 'revoked-client');
  const other = inter.leaf('other', 'other-revoked');
  inter.revoke(revoked);
  inter.revoke(other);
  // The other entry's revocation time written without seconds, as `openssl ca` accepts it.
  const db = join(inter.dir, 'index.txt');
  const lines = readFileSync(db, 'utf8').split('\n');
  writeFileSync(
    db,
    lines
      .map((l) => (l.split('\t')[3] === other.serialHex ? l.replace('240102030405Z', '2401020304Z') : l))
      .join('\n'),
  );
  const bundle = writeText(join(dir, 'bundle.pem'), root.cert.pem + inter.cert.pem);
  const crls = writeText(join(dir, 'crls.pem'), root.crl() + inter.crl());
  expect(opensslVerdict({ caFile: bundle, crlFile: crls, cert: revoked.pemPath })).toBe('CERT_REVOKED');

  const gw = await startTestGateway(pki, {
    GATEWAY_CA_BUNDLE: bundle,
    GATEWAY_CRLS: crls,
    GATEWAY_VERIFY_MODE: 'explain',
  });
  const agent = new Agent({
    connect: {
      ca: readFileSync(pki.path('root-ca.pem')),
      servername: 'localhost',
      cert: revoked.pem,
      key: readFileSync(revoked.keyPath),
    },
  });
  try {
    const res = await get(`${gw.url}/f`, agent);
    expect(res.status, res.text).toBe(403);
    expect(gw.upstream.seen).toHaveLength(0);
  } finally {
    await agent.close();
    await gw.close();
  }
});

it('a CRL OpenSSL refuses to use (unknown critical entry extension) does not leave its CA unchecked', async () => {
  // OpenSSL: UNHANDLED_CRITICAL_CRL_EXTENSION, every client of the CA refused. Gateway: the CRL is
  // rejected as a whole, the CA has no CRL, and its revoked client is served.
  const root = ScenarioCa.root(join(dir, 'crit-root'), '/CN=Crit Root');
  const ca = root.intermediate(join(dir, 'crit-ca'), '/CN=Crit Issuing CA');
  const revoked = ca.leaf('crit-revoked', 'crit-revoked');
  const parsedCa = parseCertificate(ca.cert.x509.raw);
  const der = buildCrl({
    issuerDer: parsedCa.subjectDer,
    alg: 'ecdsa-sha256',
    key: createPrivateKey(readFileSync(ca.cert.keyPath)),
    thisUpdate: Date.now() - 3_600_000,
    nextUpdate: Date.now() + 86_400_000,
    entries: [
      { serialHex: revoked.serialHex },
      { serialHex: '7F7F', extensions: [extension('1.3.6.1.4.1.99999.1', true, octet(Buffer.from([5, 0])))] },
    ],
    extensions: [akiExt(parsedCa.subjectKeyId!), crlNumberExt(1)],
  });
  const pem = `-----BEGIN X509 CRL-----\n${Buffer.from(der).toString('base64').replace(/.{64}/g, '$&\n')}\n-----END X509 CRL-----\n`;
  const bundle = writeText(join(dir, 'crit-bundle.pem'), root.cert.pem + ca.cert.pem);
  const crls = writeText(join(dir, 'crit-crls.pem'), root.crl() + pem);
  expect(opensslVerdict({ caFile: bundle, crlFile: crls, cert: revoked.pemPath })).not.toBe('ok');

  const gw = await startTestGateway(pki, {
    GATEWAY_CA_BUNDLE: bundle,
    GATEWAY_CRLS: crls,
    GATEWAY_VERIFY_MODE: 'explain',
  });
  const agent = new Agent({
    connect: {
      ca: readFileSync(pki.path('root-ca.pem')),
      servername: 'localhost',
      cert: revoked.pem,
      key: readFileSync(revoked.keyPath),
    },
  });
  try {
    const res = await get(`${gw.url}/f`, agent);
    expect(res.status, res.text).toBe(403);
    expect(gw.upstream.seen).toHaveLength(0);
  } finally {
    await agent.close();
    await gw.close();
  }
});
