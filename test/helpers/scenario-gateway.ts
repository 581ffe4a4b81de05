/**
 * For end-to-end files whose CAs, leaves and CRLs are built with the openssl CLI
 * (differential/scenario-pki.ts): a folder for them, and a gateway started on them, asked once
 * per client, and stopped, so each test reads as its PKI, OpenSSL's verdict and our answers.
 */
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll } from 'vitest';
import type { CertFile } from '../differential/scenario-pki.js';
import { removeTempDirs, tempDir } from '../trust/openssl-pki.js';
import { get, presentingAgent, type SimpleResponse, startTestGateway } from './gateway.js';
import { makeTestPki, type TestPki } from './pki.js';

export interface ScenarioFiles {
  /** The test PKI: the gateway's server certificate and the clients' trust in it. */
  readonly pki: TestPki;
  /** A temporary folder for the scenario's CAs, leaves, bundles and CRLs. */
  readonly dir: string;
}

/** A test PKI and a temporary folder, made before the file's tests and removed after them. */
export function useScenarioFiles(prefix: string): ScenarioFiles {
  let pki: TestPki | undefined;
  let dir: string | undefined;
  beforeAll(async () => {
    pki = await makeTestPki();
    dir = tempDir(prefix);
  });
  afterAll(async () => {
    await pki?.cleanup();
    removeTempDirs();
  });
  const ready = <T>(v: T | undefined): T => {
    if (v === undefined) throw new Error('useScenarioFiles: read before its beforeAll ran');
    return v;
  };
  return {
    get pki() {
      return ready(pki);
    },
    get dir() {
      return ready(dir);
    },
  };
}

export interface AskedOnce {
  /** Each client's answer to GET /f, in the order the clients were given. */
  readonly answers: readonly (SimpleResponse & { readonly error: string | undefined })[];
  /** How many CRLs the gateway had in force (its /trust document). */
  readonly crlsInForce: number;
  /** How many requests reached the upstream. */
  readonly forwarded: number;
}

/**
 * Starts a gateway on `bundle` and `crls` in explain mode (a refusal says why in JSON, `error`),
 * asks GET /f once as each client in turn, and stops it.
 */
export async function askOnceEach(
  pki: TestPki,
  trust: { readonly bundle: string; readonly crls: string; readonly env?: Record<string, string> },
  clients: readonly Pick<CertFile, 'pem' | 'keyPath'>[],
): Promise<AskedOnce> {
  const gw = await startTestGateway(pki, {
    GATEWAY_CA_BUNDLE: trust.bundle,
    GATEWAY_CRLS: trust.crls,
    GATEWAY_VERIFY_MODE: 'explain',
    ...trust.env,
  });
  try {
    const doc = (await (await fetch(`${gw.adminUrl}/trust`)).json()) as { crls: unknown[] };
    const answers: AskedOnce['answers'][number][] = [];
    for (const client of clients) {
      const agent = presentingAgent(pki, { cert: client.pem, key: readFileSync(client.keyPath) });
      try {
        const res = await get(`${gw.url}/f`, agent);
        const error = res.status === 200 ? undefined : res.json<{ error?: string }>().error;
        answers.push({ ...res, error });
      } finally {
        await agent.close();
      }
    }
    return { answers, crlsInForce: doc.crls.length, forwarded: gw.upstream.seen.length };
  } finally {
    await gw.close();
  }
}
