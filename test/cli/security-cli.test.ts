import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { issue, makeCrl } from '../../src/dev/pki.js';
import { makeTestPki, type TestPki } from '../helpers/pki.js';
import { S3Server } from '../helpers/s3-server.js';
import { SecretsManagerServer } from '../helpers/secrets-manager-server.js';
import { runCli } from './run-cli.js';

// Every step is a CLI process (about 0.8 s of start-up each); a loaded 2-core machine needs room.
vi.setConfig({ testTimeout: 120_000 });

let pki: TestPki;
let planted: string;
let rogueCrl: string;

beforeAll(async () => {
  pki = await makeTestPki();
  const { root, intermediate, rogue } = pki.pki;
  const expiredCa = await issue(undefined, {
    subject: 'O=Old, CN=expired CA',
    ca: true,
    notBeforeDays: -60,
    notAfterDays: -1,
  });
  const expiringCa = await issue(undefined, {
    subject: 'O=Soon, CN=expiring CA',
    ca: true,
    notAfterDays: 10,
  });
  const weakKey = pki.path('weak-key.pem');
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'rsa:1024',
      '-sha1',
      '-nodes',
      '-keyout',
      weakKey,
      '-out',
      pki.path('weak-ca.pem'),
      '-subj',
      '/CN=weak CA',
      '-days',
      '30',
      '-addext',
      'basicConstraints=critical,CA:TRUE',
    ],
    { stdio: 'ignore' },
  );
  const weakCa = readFileSync(pki.path('weak-ca.pem'), 'utf8');
  const lines = intermediate.certPem.trimEnd().split('\n');
  const blank = [...lines.slice(0, 3), '', ...lines.slice(3)].join('\n');
  planted = await pki.write(
    'planted.pem',
    `${intermediate.certPem}${root.certPem}${expiredCa.certPem}${expiringCa.certPem}` +
      `${pki.pki.clients['partner-b'].certPem}${weakCa}copied from the wiki, sorry\n${blank}\n`,
  );
  rogueCrl = await pki.write('rogue-crl.pem', await makeCrl(rogue));
});
afterAll(() => pki.cleanup());

describe.concurrent('bundle check', () => {
  it('passes a clean bundle with its CRLs and a valid client (real handshake)', async () => {
    const r = await runCli([
      'bundle',
      'check',
      pki.path('ca-bundle.pem'),
      '--crl',
      pki.path('crl.pem'),
      '--client',
      pki.path('partner-a.pem'),
    ]);
    expect(r.stdout).toContain('accepted by the gateway');
    expect(r.stdout).toMatch(/client partner-a\.pem: accepted \(tls-handshake\) CN=partner-a,O=Partner A/);
    expect(r.stdout).toContain('result: 0 error(s), 0 warning(s)');
    expect(r.code).toBe(0);
  });

  it('finds every planted problem', async () => {
    const r = await runCli([
      'bundle',
      'check',
      planted,
      '--crl',
      pki.path('crl.pem'),
      '--crl',
      rogueCrl,
      '--client',
      pki.path('revoked.pem'),
      '--client',
      pki.path('expired.pem'),
      '--client',
      pki.path('partner-a.pem'),
    ]);
    expect(r.code).toBe(1);
    const out = r.stdout;
    expect(out).toContain('REFUSED by the gateway');
    expect(out).toMatch(
      /error\s+gateway_refuses: the gateway refuses this bundle: CA bundle block 3 \(CN=expired CA,O=Old\): expired/,
    );
    expect(out).toMatch(/error\s+expired: expired at/);
    expect(out).toMatch(/warning\s+expiring: expires at .* \(in (9|10) days\)/);
    expect(out).toMatch(/CA 5: CN=partner-b,O=Partner B[\s\S]*?error\s+not_ca:/);
    expect(out).toMatch(/CA 6: CN=weak CA\n[^\n]*\n[^\n]*rsa 1024 bits; sha1WithRSAEncryption/);
    expect(out).toMatch(/error\s+weak_key: RSA key of 1024 bits/);
    expect(out).toMatch(/warning\s+sha1_signature:/);
    expect(out).toMatch(/warning\s+duplicate: duplicate of block 1/);
    expect(out).toMatch(/warning\s+stray_text:/);
    expect(out).toMatch(/warning\s+blank_line: block 7/);
    expect(out).toMatch(
      /CRL .*rogue-crl\.pem: CN=untrusted CA,O=Not Trusted NOT USED\n\s+error\s+crl_unknown_issuer:/,
    );
    expect(out).toMatch(/warning\s+no_crl: no CRL for CN=expiring CA,O=Soon/);
    expect(out).toMatch(/client revoked\.pem: refused revoked \(tls-handshake\)/);
    expect(out).toMatch(/client expired\.pem: refused expired \(tls-handshake\)/);
    // The usable CAs still decide clients: partner-a is accepted.
    expect(out).toMatch(/client partner-a\.pem: accepted/);
  });

  it('--json gives the same report for machines', async () => {
    const r = await runCli(['bundle', 'check', planted, '--client', pki.path('untrusted.pem'), '--json']);
    expect(r.code).toBe(1);
    const report = JSON.parse(r.stdout) as {
      gateway_accepts: boolean;
      errors: number;
      cas: { block: number; findings: { code: string }[] }[];
      clients: { name: string; accepted: boolean; reason: string; method: string }[];
    };
    expect(report.gateway_accepts).toBe(false);
    expect(report.cas.find((c) => c.block === 3)?.findings.map((f) => f.code)).toContain('expired');
    expect(report.clients).toEqual([
      expect.objectContaining({
        name: 'untrusted.pem',
        accepted: false,
        reason: 'unknown_ca',
        method: 'tls-handshake',
      }),
    ]);
    expect(report.errors).toBeGreaterThan(3);
  });

  it('without a key, decides with certificate checks and says so', async () => {
    await mkdir(pki.path('nokey'), { recursive: true });
    const leaf = pki.path('nokey/server-only.pem');
    await writeFile(leaf, readFileSync(pki.path('server-only.pem')));
    const r = await runCli(['bundle', 'check', pki.path('ca-bundle.pem'), '--client', leaf]);
    expect(r.stdout).toMatch(/client server-only\.pem: refused bad_certificate \(certificate-checks\)/);
    expect(r.code).toBe(1);
  });

  it('usage errors exit 2, --help exits 0', async () => {
    const usage = [
      ['bundle', 'check'],
      ['bundle', 'check', pki.path('missing.pem')],
      ['bundle', 'frobnicate'],
      ['explain'],
      ['serve', 'now'],
      ['dev', '--port=1'],
    ];
    // The long-running commands print their help and exit instead of starting a gateway (a
    // regression would hold the port until runCli's timeout and exit -1, not 0).
    const helps = [
      ['bundle', '--help'],
      ['crl', '--help'],
      ['explain', '--help'],
      ['dev-pki', '--help'],
      ['serve', '--help'],
      ['dev', '--help'],
      ['dev', '-h'],
      ['healthcheck', '--help'],
      ['loadtest', '-h'],
    ];
    const [bad, good] = await Promise.all([
      Promise.all(usage.map((a) => runCli(a))),
      Promise.all(helps.map((a) => runCli(a))),
    ]);
    bad.forEach((r, i) => {
      expect(r.code, usage[i]!.join(' ')).toBe(2);
      expect(r.stderr).toContain('usage: mtls-gateway');
    });
    good.forEach((r, i) => {
      expect(r.code, helps[i]!.join(' ')).toBe(0);
      expect(r.stdout).toContain(`usage: mtls-gateway ${helps[i]![0]}`);
    });
  });
});

describe.concurrent('crl check', () => {
  it('verifies the CRLs and finds a listed serial', async () => {
    const serial = pki.pki.clients.revoked.serialHex;
    const r = await runCli([
      'crl',
      'check',
      pki.path('crl.pem'),
      '--bundle',
      pki.path('ca-bundle.pem'),
      '--serial',
      serial,
      '--serial',
      pki.pki.clients['partner-a'].serialHex,
    ]);
    expect(r.stdout).toMatch(
      /CRL 2 of .*: CN=mtls-gateway dev intermediate CA,O=mtls-gateway development\n\s+signature verified/,
    );
    expect(r.stdout).toContain(`serial ${serial}: LISTED`);
    expect(r.stdout).toContain(`serial ${pki.pki.clients['partner-a'].serialHex}: not listed`);
    expect(r.code).toBe(3);
    const clean = await runCli(['crl', 'check', pki.path('crl.pem'), '--bundle', pki.path('ca-bundle.pem')]);
    expect(clean.code).toBe(0);
  });

  it('flags a CRL from an unknown issuer and an expired CRL', async () => {
    const r = await runCli(['crl', 'check', rogueCrl, '--bundle', pki.path('ca-bundle.pem'), '--json']);
    expect(r.code).toBe(1);
    const report = JSON.parse(r.stdout) as { crls: { verified: boolean; findings: { code: string }[] }[] };
    expect(report.crls[0]?.verified).toBe(false);
    expect(report.crls[0]?.findings.map((f) => f.code)).toEqual(['crl_unknown_issuer']);
    const old = await pki.write(
      'old-crl.pem',
      await makeCrl(pki.pki.intermediate, { thisUpdateDays: -10, nextUpdateDays: -1 }),
    );
    const expired = await runCli(['crl', 'check', old, '--bundle', pki.path('ca-bundle.pem')]);
    expect(expired.stdout).toMatch(/error\s+crl_expired: past its nextUpdate/);
    expect(expired.code).toBe(1);
    expect((await runCli(['crl', 'check', old])).code).toBe(2);
    // A serial listed in a CRL the gateway would ignore is a broken CRL (1), not a revocation (3).
    const revokedSerial = pki.pki.clients.revoked.serialHex;
    const stale = await pki.write(
      'stale-listing-crl.pem',
      await makeCrl(pki.pki.intermediate, {
        thisUpdateDays: -10,
        nextUpdateDays: -1,
        revoked: [{ serialHex: revokedSerial }],
      }),
    );
    const listedInStale = await runCli([
      'crl',
      'check',
      stale,
      '--bundle',
      pki.path('ca-bundle.pem'),
      '--serial',
      revokedSerial,
    ]);
    expect(listedInStale.stdout).toContain(`serial ${revokedSerial}: LISTED`);
    expect(listedInStale.code).toBe(1);
  });
});

describe.concurrent('explain', () => {
  const base = (): string[] => ['--bundle', pki.path('ca-bundle.pem'), '--crl', pki.path('crl.pem')];

  it('walks every step for an accepted client, with the partner and routes of GATEWAY_CONFIG', async () => {
    const config = await pki.write(
      'gateway.json',
      JSON.stringify({
        partners: [{ id: 'acme', match: { commonName: 'partner-a' } }],
        routes: [
          { name: 'receipts', prefix: '/receipts', allow: ['acme'] },
          { name: 'admin', prefix: '/admin', allow: [] },
        ],
      }),
    );
    const r = await runCli(['explain', pki.path('partner-a.pem'), ...base(), '--config', config]);
    expect(r.stdout).toMatch(/verified by tls-handshake/);
    for (const step of ['chain', 'validity', 'purpose', 'revocation', 'partner', 'routes']) {
      expect(r.stdout).toMatch(new RegExp(`^${step}\\s+pass`, 'm'));
    }
    expect(r.stdout).toMatch(/partner\s+pass\s+partner 'acme' \(matched by partners\[0\]/);
    expect(r.stdout).toMatch(/routes\s+pass\s+may call receipts \(\/receipts, any\)/);
    expect(r.stdout).toMatch(/refused: admin \(\/admin\)/);
    expect(r.stdout).toContain('result: accepted as acme');
    expect(r.code).toBe(0);
  });

  it('stops at the step that refuses', async () => {
    const revoked = await runCli(['explain', pki.path('revoked.pem'), ...base(), '--json']);
    expect(revoked.code).toBe(1);
    const e = JSON.parse(revoked.stdout) as { reason: string; steps: { step: string; verdict: string }[] };
    expect(e.reason).toBe('revoked');
    expect(e.steps.map((s) => `${s.step}:${s.verdict}`)).toEqual([
      'chain:pass',
      'validity:pass',
      'purpose:pass',
      'revocation:fail',
      'partner:not_reached',
      'routes:not_reached',
    ]);
    const [untrusted, notYet, purpose] = await Promise.all(
      ['untrusted', 'not-yet-valid', 'server-only'].map((n) =>
        runCli(['explain', pki.path(`${n}.pem`), ...base()]),
      ),
    );
    expect(untrusted!.stdout).toMatch(/^chain\s+fail\s+unknown_ca/m);
    expect(untrusted!.code).toBe(1);
    expect(notYet!.stdout).toMatch(/^validity\s+fail\s+not_yet_valid/m);
    expect(purpose!.stdout).toMatch(/^purpose\s+fail\s+bad_certificate/m);
  });
});

describe.concurrent('dev-pki issue-client', () => {
  it('issues a client, and with --revoke lists it in a newer intermediate CRL', async () => {
    const dir = pki.path('devpki');
    expect((await runCli(['dev-pki', '--out', dir])).code).toBe(0);
    const ok = await runCli(['dev-pki', 'issue-client', '--name', 'acme-test', '--days', '30', '--out', dir]);
    expect(ok.code).toBe(0);
    expect(ok.stdout).toMatch(
      /issued acme-test \(serial [0-9A-F]+\): acme-test\.pem, acme-test-key\.pem, acme-test-combined\.pem/,
    );
    const accepted = await runCli([
      'explain',
      `${dir}/acme-test-combined.pem`,
      '--bundle',
      `${dir}/ca-bundle.pem`,
      '--crl',
      `${dir}/crl.pem`,
    ]);
    expect(accepted.stdout).toContain('result: accepted as cn:acme-test');

    const bad = await runCli([
      'dev-pki',
      'issue-client',
      '--name',
      'gone',
      '--revoke',
      '--out',
      dir,
      '--json',
    ]);
    expect(bad.code).toBe(0);
    const issued = JSON.parse(bad.stdout) as { serial_hex: string; crl_number: number };
    expect(issued.crl_number).toBe(2);
    const crl = await runCli([
      'crl',
      'check',
      `${dir}/crl.pem`,
      '--bundle',
      `${dir}/ca-bundle.pem`,
      '--serial',
      issued.serial_hex,
    ]);
    expect(crl.stdout).toContain(`serial ${issued.serial_hex}: LISTED`);
    expect(crl.stdout).toMatch(/number 2, 2 entries/); // the dev `revoked` client is still listed
    const refused = await runCli([
      'explain',
      `${dir}/gone.pem`,
      '--bundle',
      `${dir}/ca-bundle.pem`,
      '--crl',
      `${dir}/crl.pem`,
    ]);
    expect(refused.stdout).toMatch(/result: refused revoked/);
    expect((await runCli(['dev-pki', 'issue-client', '--out', dir])).code).toBe(2);
  });
});

describe.concurrent('bundle diff', () => {
  it('reports a renewed intermediate and the clients that would lose access', async () => {
    const { root } = pki.pki;
    const renewed = await issue(root, {
      subject: 'O=mtls-gateway development, CN=mtls-gateway dev intermediate CA',
      ca: true,
    });
    const extra = await issue(undefined, { subject: 'O=Partner C, CN=partner C root', ca: true });
    const next = await pki.write('next-bundle.pem', renewed.certPem + root.certPem + extra.certPem);
    const clients = pki.path('clients');
    await mkdir(clients, { recursive: true });
    for (const name of ['partner-a', 'partner-a-combined', 'partner-b']) {
      await writeFile(`${clients}/${name}.pem`, readFileSync(pki.path(`${name}.pem`)));
    }
    const r = await runCli(['bundle', 'diff', pki.path('ca-bundle.pem'), next, '--clients', clients]);
    expect(r.stdout).toMatch(/^added\s+CN=partner C root,O=Partner C/m);
    expect(r.stdout).toMatch(
      /^renewed\s+CN=mtls-gateway dev intermediate CA,O=mtls-gateway development \(new key;/m,
    );
    expect(r.stdout).toMatch(
      /^loses access\s+partner-a(-combined)?\.pem CN=partner-a,O=Partner A \(accepted -> unknown_ca; by certificate\)/m,
    );
    expect(r.stdout).toMatch(/^loses access\s+partner-b\.pem/m);
    expect(r.stdout.match(/loses access/g)).toHaveLength(2); // the combined copy is the same certificate
    expect(r.code).toBe(1);

    const same = await runCli([
      'bundle',
      'diff',
      pki.path('ca-bundle.pem'),
      pki.path('ca-bundle.pem'),
      '--clients',
      clients,
    ]);
    expect(same.stdout).toContain('unchanged 2 CA(s)');
    expect(same.code).toBe(0);
  });

  it('counts only leaf certificates as clients, and keeps a revoked client revoked with --crl', async () => {
    const { root } = pki.pki;
    const renewed = await issue(root, {
      subject: 'O=mtls-gateway development, CN=mtls-gateway dev intermediate CA',
      ca: true,
    });
    const next = await pki.write('next-bundle-crl.pem', renewed.certPem + root.certPem);
    const clients = pki.path('clients-with-cas');
    await mkdir(clients, { recursive: true });
    // A partner's folder as it arrives: its leaf, its revoked colleague, and the CA files.
    await writeFile(`${clients}/partner-a.pem`, readFileSync(pki.path('partner-a.pem')));
    await writeFile(`${clients}/revoked.pem`, readFileSync(pki.path('revoked.pem')));
    await writeFile(`${clients}/intermediate.pem`, pki.pki.intermediate.certPem);
    await writeFile(`${clients}/root-ca.pem`, root.certPem);
    const r = await runCli([
      'bundle',
      'diff',
      pki.path('ca-bundle.pem'),
      next,
      '--clients',
      clients,
      '--crl',
      pki.path('crl.pem'),
      '--json',
    ]);
    const d = JSON.parse(r.stdout) as {
      lose_access: { name: string; before: string }[];
      gain_access: unknown[];
    };
    // Only partner-a had access and loses it: the revoked client never had it, CAs are no clients.
    expect(d.lose_access.map((c) => [c.name, c.before])).toEqual([['partner-a.pem', 'accepted']]);
    expect(d.gain_access).toEqual([]);
    expect(r.code).toBe(1);
  });

  it('judges an export of /trust/expiring by issuer name', async () => {
    const rootOnly = await pki.write('root-only.pem', pki.pki.root.certPem);
    const exported = await pki.write(
      'expiring.json',
      JSON.stringify({
        expiring: [
          {
            partner: 'acme',
            subject: 'CN=partner-a,O=Partner A',
            issuer: 'CN=mtls-gateway dev intermediate CA,O=mtls-gateway development',
            fingerprint256: 'ab'.repeat(32),
          },
          { partner: 'x', fingerprint256: 'cd'.repeat(32) },
        ],
      }),
    );
    const r = await runCli([
      'bundle',
      'diff',
      pki.path('ca-bundle.pem'),
      rootOnly,
      '--clients',
      exported,
      '--json',
    ]);
    const d = JSON.parse(r.stdout) as {
      removed: { subject: string }[];
      lose_access: { name: string; basis: string }[];
      undecided: string[];
    };
    expect(d.removed.map((c) => c.subject)).toEqual([
      'CN=mtls-gateway dev intermediate CA,O=mtls-gateway development',
    ]);
    expect(d.lose_access).toEqual([
      expect.objectContaining({ name: `acme ${'ab'.repeat(32)}`, basis: 'issuer-name' }),
    ]);
    expect(d.undecided).toEqual([`x ${'cd'.repeat(32)}`]);
    expect(r.code).toBe(1);
  });
});

describe('bundle push', () => {
  let sm: SecretsManagerServer;
  beforeAll(async () => {
    sm = await SecretsManagerServer.start();
  });
  afterAll(() => sm.close());

  it('refuses a broken bundle, writes nothing on --dry-run, then pushes and prints the version', async () => {
    const id = 'mtls-gateway/ca-bundle';
    const first = sm.put(id, pki.pki.root.certPem);
    const env = sm.env();
    const broken = await runCli(['bundle', 'push', planted, '--secret-id', id], { env });
    expect(broken.code).toBe(1);
    expect(broken.stdout).toMatch(/refused: the bundle has \d+ error\(s\); nothing was written/);
    expect(sm.callCount('PutSecretValue')).toBe(0);
    expect(sm.callCount('GetSecretValue')).toBe(0);

    const dry = await runCli(['bundle', 'push', pki.path('ca-bundle.pem'), '--secret-id', id, '--dry-run'], {
      env,
    });
    expect(dry.code).toBe(0);
    expect(dry.stdout).toContain(`current version of ${id}: ${first}`);
    expect(dry.stdout).toMatch(/^added\s+CN=mtls-gateway dev intermediate CA/m);
    expect(dry.stdout).toContain('dry run: nothing was written');
    expect(sm.callCount('PutSecretValue')).toBe(0);
    expect(sm.currentVersion(id)).toBe(first);

    const pushed = await runCli(['bundle', 'push', pki.path('ca-bundle.pem'), '--secret-id', id, '--json'], {
      env,
    });
    expect(pushed.code).toBe(0);
    const out = JSON.parse(pushed.stdout) as { pushed: boolean; version: string; previous_version: string };
    expect(out.pushed).toBe(true);
    expect(out.previous_version).toBe(first);
    expect(out.version).toBe(sm.currentVersion(id));
    expect(out.version).not.toBe(first);

    const again = await runCli(['bundle', 'push', pki.path('ca-bundle.pem'), '--secret-id', id], { env });
    expect(again.stdout).toContain('identical to the current version: nothing to write');
    expect(sm.callCount('PutSecretValue')).toBe(1);
  });

  it('needs --force to remove a CA without evidence, or to take access from a named client', async () => {
    const env = sm.env();
    const id = 'mtls-gateway/guarded';
    const first = sm.put(id, readFileSync(pki.path('ca-bundle.pem'), 'utf8'));
    const other = await issue(undefined, { subject: 'O=Partner C, CN=partner C root', ca: true });
    const onlyOther = await pki.write('only-other.pem', other.certPem);
    // Every CA of the bundle in force removed, and nobody named: refused, nothing written.
    const blind = await runCli(['bundle', 'push', onlyOther, '--secret-id', id], { env });
    expect(blind.stdout).toMatch(
      /refused: it removes .*CN=mtls-gateway dev intermediate CA.* and no --client\/--clients says who depends on it/,
    );
    expect(blind.code).toBe(1);
    // --clients is evidence only (--client would make the check itself fail on partner-a).
    const folder = pki.path('push-evidence');
    await mkdir(folder, { recursive: true });
    await writeFile(`${folder}/partner-a.pem`, readFileSync(pki.path('partner-a.pem')));
    const named = await runCli(
      ['bundle', 'push', onlyOther, '--secret-id', id, '--clients', folder, '--json'],
      { env },
    );
    const r = JSON.parse(named.stdout) as { pushed: boolean; reason: string; why: string };
    expect(r).toMatchObject({ pushed: false, reason: 'needs_force' });
    expect(r.why).toContain('partner-a.pem (accepted -> unknown_ca)');
    expect(named.code).toBe(1);
    expect(sm.currentVersion(id)).toBe(first);
    const forced = await runCli(['bundle', 'push', onlyOther, '--secret-id', id, '--force'], { env });
    expect(forced.code).toBe(0);
    expect(sm.currentVersion(id)).not.toBe(first);
  });

  it('needs --create for a new secret and --secret-id always', async () => {
    const env = sm.env();
    const missing = await runCli(['bundle', 'push', pki.path('ca-bundle.pem'), '--secret-id', 'nope'], {
      env,
    });
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain("secret 'nope' not found");
    const created = await runCli(
      ['bundle', 'push', pki.path('ca-bundle.pem'), '--secret-id', 'new', '--create', '--force'],
      { env },
    );
    expect(created.code).toBe(0);
    expect(created.stdout).toMatch(/pushed: new version \S+ \(labelled MTLS_GATEWAY_FORCE\)/);
    expect(sm.currentVersion('new')).toBeDefined();
    expect((await runCli(['bundle', 'push', pki.path('ca-bundle.pem')], { env })).code).toBe(2);
  });
});

describe.concurrent('crl diff', () => {
  it('lists the serials a new CRL adds, names the clients they revoke, and exits 1', async () => {
    const { intermediate, clients } = pki.pki;
    const next = await pki.write(
      'crl-next.pem',
      (await makeCrl(pki.pki.root)) +
        (await makeCrl(intermediate, {
          crlNumber: 2,
          revoked: [{ serialHex: clients.revoked.serialHex }, { serialHex: clients['partner-b'].serialHex }],
        })),
    );
    const folder = pki.path('crl-diff-clients');
    await mkdir(folder, { recursive: true });
    for (const name of ['partner-a', 'partner-b', 'revoked'])
      await writeFile(`${folder}/${name}.pem`, readFileSync(pki.path(`${name}.pem`)));
    await writeFile(`${folder}/intermediate.pem`, intermediate.certPem);
    const args = ['crl', 'diff', pki.path('crl.pem'), next, '--bundle', pki.path('ca-bundle.pem')];
    const r = await runCli([...args, '--clients', folder, '--json']);
    const d = JSON.parse(r.stdout) as {
      cas: {
        ca: { subject: string };
        added: string[];
        removed: string[];
        takes_effect: boolean;
        newly_revoked: { name: string; serial: string }[];
      }[];
      errors: number;
    };
    const inter = d.cas.find((c) => c.ca.subject.startsWith('CN=mtls-gateway dev intermediate CA'));
    expect(inter).toMatchObject({
      added: [clients['partner-b'].serialHex.toUpperCase()],
      removed: [],
      takes_effect: true,
      newly_revoked: [{ name: 'partner-b.pem', serial: clients['partner-b'].serialHex }],
    });
    expect(d.errors).toBe(0);
    expect(r.code).toBe(1);
    const text = await runCli([...args, '--clients', folder]);
    expect(text.stdout).toMatch(/^ {2}newly revoked {4}partner-b\.pem CN=partner-b,O=Partner B/m);
    // Without a known client among the additions, a sound diff exits 0.
    expect((await runCli(args)).code).toBe(0);
  });

  it('says when the gateway would keep the old CRL (not newer), and exits 1', async () => {
    const same = await pki.write(
      'crl-same-number.pem',
      await makeCrl(pki.pki.intermediate, {
        crlNumber: 1,
        thisUpdateDays: -2,
        revoked: [{ serialHex: pki.pki.clients['partner-a'].serialHex }],
      }),
    );
    const r = await runCli(['crl', 'diff', pki.path('crl.pem'), same, '--bundle', pki.path('ca-bundle.pem')]);
    expect(r.stdout).toContain('(NOT TAKEN: not newer)');
    expect(r.stdout).toMatch(/error\s+crl_not_newer/);
    expect(r.stdout).toContain('serials added 0, removed 0');
    expect(r.code).toBe(1);
  });

  it('keeps two CAs of the same name apart: a twin CA listing a serial revokes nobody of the other', async () => {
    const { root, intermediate, clients } = pki.pki;
    const twin = await issue(root, {
      subject: 'O=mtls-gateway development, CN=mtls-gateway dev intermediate CA',
      ca: true,
    });
    const bundle = await pki.write('twin-bundle.pem', intermediate.certPem + twin.certPem + root.certPem);
    const twinCrl = await makeCrl(twin, { revoked: [{ serialHex: clients['partner-a'].serialHex }] });
    const next = await pki.write('crl-with-twin.pem', readFileSync(pki.path('crl.pem'), 'utf8') + twinCrl);
    const folder = pki.path('twin-clients');
    await mkdir(folder, { recursive: true });
    await writeFile(`${folder}/partner-a.pem`, readFileSync(pki.path('partner-a.pem')));
    const r = await runCli([
      'crl',
      'diff',
      pki.path('crl.pem'),
      next,
      '--bundle',
      bundle,
      '--clients',
      folder,
      '--json',
    ]);
    const d = JSON.parse(r.stdout) as { cas: { added: string[]; newly_revoked: unknown[] }[] };
    expect(d.cas).toHaveLength(3); // root, intermediate and its twin, each by its own key
    const twinEntry = d.cas.find((c) => c.added.length === 1);
    expect(twinEntry?.added).toEqual([clients['partner-a'].serialHex.toUpperCase()]);
    expect(d.cas.flatMap((c) => c.newly_revoked)).toEqual([]);
    expect(r.code).toBe(0);
  });
});

describe('crl push', () => {
  let sm: SecretsManagerServer;
  let s3: S3Server;
  let folder: string;
  beforeAll(async () => {
    [sm, s3] = await Promise.all([SecretsManagerServer.start(), S3Server.start()]);
    folder = pki.path('crl-push-clients');
    await mkdir(folder, { recursive: true });
    for (const name of ['partner-a', 'partner-b', 'revoked'])
      await writeFile(`${folder}/${name}.pem`, readFileSync(pki.path(`${name}.pem`)));
  });
  afterAll(async () => {
    await Promise.all([sm.close(), s3.close()]);
  });
  const revokingPartnerB = async (file: string, crlNumber: number): Promise<string> =>
    pki.write(
      file,
      await makeCrl(pki.pki.intermediate, {
        crlNumber,
        revoked: [
          { serialHex: pki.pki.clients.revoked.serialHex },
          { serialHex: pki.pki.clients['partner-b'].serialHex },
        ],
      }),
    );

  it('to Secrets Manager: names whom it revokes, needs --force for a known partner, refuses an older CRL', async () => {
    const env = sm.env();
    const id = 'prod/mtls/crl';
    const bundle = ['--bundle', pki.path('ca-bundle.pem')];
    // First publication: the serial it adds belongs to none of the known clients' good standing.
    const first = await runCli(
      ['crl', 'push', pki.path('crl.pem'), ...bundle, '--secret-id', id, '--create', '--clients', folder],
      { env },
    );
    expect(first.stdout).toMatch(/newly revoked {4}revoked\.pem CN=revoked,O=Partner R/);
    expect(first.code).toBe(1); // revoking a known client needs --force, even the one meant to be
    expect(sm.callCount('CreateSecret')).toBe(0);
    const created = await runCli(
      [
        'crl',
        'push',
        pki.path('crl.pem'),
        ...bundle,
        '--secret-id',
        id,
        '--create',
        '--clients',
        folder,
        '--force',
      ],
      { env },
    );
    expect(created.stdout).toMatch(/pushed: new version \S+/);
    expect(created.code).toBe(0);
    const v1 = sm.currentVersion(id)!;

    const next = await revokingPartnerB('crl-push-b.pem', 2);
    const refused = await runCli(
      ['crl', 'push', next, ...bundle, '--secret-id', id, '--clients', folder, '--json'],
      { env },
    );
    const r = JSON.parse(refused.stdout) as { pushed: boolean; reason: string; why: string };
    expect(r).toMatchObject({ pushed: false, reason: 'needs_force' });
    expect(r.why).toContain('partner-b.pem (CN=partner-b,O=Partner B)');
    expect(refused.code).toBe(1);
    expect(sm.currentVersion(id)).toBe(v1);

    const blind = await runCli(['crl', 'push', next, ...bundle, '--secret-id', id], { env });
    expect(blind.stdout).toContain('refused: it adds 1 serial(s) and no --clients says whom they belong to');
    expect(blind.code).toBe(1);

    const dry = await runCli(
      ['crl', 'push', next, ...bundle, '--secret-id', id, '--clients', folder, '--force', '--dry-run'],
      { env },
    );
    expect(dry.stdout).toContain('dry run: nothing was written');
    expect(sm.currentVersion(id)).toBe(v1);

    const forced = await runCli(
      ['crl', 'push', next, ...bundle, '--secret-id', id, '--clients', folder, '--force'],
      { env },
    );
    expect(forced.code).toBe(0);
    const v2 = sm.currentVersion(id)!;
    expect(v2).not.toBe(v1);
    expect(sm.stagesOf(id, v2)).toEqual(expect.arrayContaining(['AWSCURRENT', 'MTLS_GATEWAY_FORCE']));

    // The CRL in force has number 2 now: a number-1 CRL would be ignored by the gateway.
    const older = await runCli(
      ['crl', 'push', pki.path('crl.pem'), ...bundle, '--secret-id', id, '--force'],
      { env },
    );
    expect(older.stdout).toMatch(
      /refused: the gateway would keep the CRL in force for CN=mtls-gateway dev intermediate CA/,
    );
    expect(older.code).toBe(1);
    expect(sm.currentVersion(id)).toBe(v2);
  });

  it('to Secrets Manager, a DER CRL is stored as PEM text the gateway reads', async () => {
    const env = sm.env();
    const der = pki.path('crl-push.der');
    const pem = await revokingPartnerB('crl-push-der.pem', 2);
    execFileSync('openssl', ['crl', '-in', pem, '-outform', 'DER', '-out', der]);
    const id = 'prod/mtls/crl-der';
    const r = await runCli(
      [
        'crl',
        'push',
        der,
        '--bundle',
        pki.path('ca-bundle.pem'),
        '--secret-id',
        id,
        '--create',
        '--clients',
        folder,
        '--force',
      ],
      { env },
    );
    expect(r.code).toBe(0);
    const stored = await pki.write('crl-from-secret.pem', sm.currentValue(id)!);
    expect(readFileSync(stored, 'utf8')).toMatch(/^-----BEGIN X509 CRL-----\n/);
    const check = await runCli([
      'crl',
      'check',
      stored,
      '--bundle',
      pki.path('ca-bundle.pem'),
      '--serial',
      pki.pki.clients['partner-b'].serialHex,
    ]);
    expect(check.stdout).toContain('LISTED');
    expect(check.code).toBe(3);
  });

  it('to S3: writes the object the gateway reads, and refuses a CRL that fails its check', async () => {
    const env = s3.env();
    const bundle = ['--bundle', pki.path('ca-bundle.pem')];
    const target = ['--s3', 's3://crls/partners/intermediate.crl'];
    const next = await revokingPartnerB('crl-push-s3.pem', 3);
    const ok = await runCli(['crl', 'push', next, ...bundle, ...target, '--clients', folder, '--force'], {
      env,
    });
    expect(ok.stdout).toContain('current version of s3://crls/partners/intermediate.crl: (none yet)');
    expect(ok.code).toBe(0);
    expect(s3.get('crls', 'partners/intermediate.crl')?.equals(readFileSync(next))).toBe(true);
    const again = await runCli(['crl', 'push', next, ...bundle, ...target, '--clients', folder], { env });
    expect(again.stdout).toContain('identical to the current version: nothing to write');
    expect(again.code).toBe(0);
    const puts = s3.count('PutObject');
    const rogue = await runCli(['crl', 'push', rogueCrl, ...bundle, ...target, '--force'], { env });
    expect(rogue.stdout).toContain('refused: the CRL has 1 error(s); nothing was written');
    expect(rogue.code).toBe(1);
    expect(s3.count('PutObject')).toBe(puts);
  });
});

describe.concurrent('--json output', () => {
  /** Every key snake_case, every instant an ISO 8601 UTC string to the second (or null). */
  function styleViolations(value: unknown, path = '$'): string[] {
    if (Array.isArray(value)) return value.flatMap((v, i) => styleViolations(v, `${path}[${i}]`));
    if (value === null || typeof value !== 'object') return [];
    return Object.entries(value).flatMap(([k, v]) => {
      const here = `${path}.${k}`;
      const bad = /^[a-z0-9_]+$/.test(k) ? [] : [`${here}: key not snake_case`];
      const instant = /(^|_)(at|not_before|not_after|this_update|next_update)$/.test(k);
      if (instant && v !== null && !(typeof v === 'string' && /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/.test(v)))
        bad.push(`${here}: ${JSON.stringify(v)} is not an ISO time to the second`);
      return [...bad, ...styleViolations(v, here)];
    });
  }

  it('is one style across commands: snake_case keys, ISO times to the second', async () => {
    const bundle = pki.path('ca-bundle.pem');
    const runs = await Promise.all([
      runCli([
        'bundle',
        'check',
        bundle,
        '--crl',
        pki.path('crl.pem'),
        '--client',
        pki.path('partner-a.pem'),
        '--json',
      ]),
      runCli(['bundle', 'diff', bundle, bundle, '--clients', pki.dir, '--json']),
      runCli(['crl', 'check', pki.path('crl.pem'), '--bundle', bundle, '--serial', '01', '--json']),
      runCli(['crl', 'diff', pki.path('crl.pem'), pki.path('crl.pem'), '--bundle', bundle, '--json']),
      runCli([
        'explain',
        pki.path('partner-a.pem'),
        '--bundle',
        bundle,
        '--crl',
        pki.path('crl.pem'),
        '--json',
      ]),
    ]);
    for (const r of runs) expect(styleViolations(JSON.parse(r.stdout) as unknown)).toEqual([]);
    // And the instants are there to be checked (bundle diff of a bundle with itself has none).
    for (const r of [runs[0]!, runs[2]!, runs[3]!, runs[4]!])
      expect(r.stdout).toMatch(/"(not_before|not_after|this_update|next_update)": "\d{4}-/);
  });
});
