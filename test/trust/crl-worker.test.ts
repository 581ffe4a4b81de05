/**
 * The CRL worker's two sides, in process: what the worker answers for a request and what the main
 * thread makes of that answer after it crossed a thread boundary (structuredClone with the
 * transfer list, which is what postMessage does), the size and ownership decisions, the sliced
 * copy into shared memory, and the fail-closed lifecycle around a real worker thread that answers,
 * throws, exits or stays silent. The compiled worker itself is run by crl-size.test.ts.
 */
import { once } from 'node:events';
import { MessageChannel, Worker } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import {
  answerOf,
  answerRequest,
  copyToShared,
  failAll,
  handledInline,
  INLINE_LIMIT_BYTES,
  parseAndVerifyCrlsInline,
  parseAndVerifyCrlsOffThread,
  privateInput,
  receiveResponse,
  requestFor,
  serveCrlRequests,
  transfersInput,
  type WireRequest,
  type WireResponse,
  workerAvailable,
  workerHeapMb,
  workerOptions,
} from '../../src/trust/crl/crl-worker.js';
import type { CrlLoadResult } from '../../src/trust/crl/verify-crl.js';
import { testCa } from './cert-builder.js';
import { akiExt, buildCrl, crlNumberExt, extension, idpExt, name, octet } from './crl-builder.js';

const ca = testCa(name('Worker CA', 'Worker'));
const other = testCa(name('Other CA', 'Worker'), 'ed25519');
const caPems = [ca.cert.pem, other.cert.pem];
const thisUpdate = Date.UTC(2026, 0, 2, 3, 4, 5);
const nextUpdate = Date.UTC(2026, 0, 9, 3, 4, 5);

const good = buildCrl({
  issuerDer: ca.cert.parsed.subjectDer,
  alg: ca.alg,
  key: ca.key,
  thisUpdate,
  nextUpdate,
  entries: [
    { serialHex: '0A1B', reason: 1, date: Date.UTC(2025, 11, 24) },
    { serialHex: '7F', date: Date.UTC(2025, 11, 25) },
  ],
  extensions: [akiExt(ca.keyId), crlNumberExt(42), idpExt(['http://crl.example/worker.crl'])],
});
const second = buildCrl({
  issuerDer: other.cert.parsed.subjectDer,
  alg: other.alg,
  key: other.key,
  thisUpdate,
  nextUpdate: null,
  entries: [{ serialHex: '01' }],
});
/** Signed by `ca`, with an unknown critical extension: unusable. */
const unusable = buildCrl({
  issuerDer: ca.cert.parsed.subjectDer,
  alg: ca.alg,
  key: ca.key,
  extensions: [extension('1.3.6.1.4.1.99999.7', true, octet(Buffer.from('x')))],
});
/** Under ca's name, signed by another key. */
const forged = buildCrl({ issuerDer: ca.cert.parsed.subjectDer, alg: other.alg, key: other.key });

const mixed = Buffer.concat([good, forged, second, unusable]);

/** What postMessage does to a response: a structured clone, with the transfer list moved. */
function acrossThreads(request: WireRequest): { received: CrlLoadResult; transfer: ArrayBuffer[] } {
  const { response, transfer } = answerRequest(request);
  const cloned = structuredClone(response, { transfer });
  return { received: receiveResponse(cloned), transfer };
}

/** The fields a caller reads of a load result, with each revoked set as lookups. */
function readable(result: CrlLoadResult) {
  return {
    accepted: result.accepted.map(({ revoked, ...rest }) => ({
      ...rest,
      issuerDer: Buffer.from(rest.issuerDer).toString('hex'),
      authorityKeyId: rest.authorityKeyId && Buffer.from(rest.authorityKeyId).toString('hex'),
      revoked: Array.from({ length: revoked.count }, (_, i) => ({
        serial: revoked.serialAt(i),
        date: revoked.revocationDateAt(i),
        reason: revoked.reasonAt(i),
        has: revoked.has(revoked.serialAt(i)),
      })),
    })),
    rejected: result.rejected,
    unusable: result.unusable,
  };
}

describe('answerRequest and receiveResponse', () => {
  it('a response that crossed the thread boundary reads exactly as the inline result', () => {
    const inline = parseAndVerifyCrlsInline(mixed, caPems);
    const { received, transfer } = acrossThreads({ input: mixed, caPems });
    expect(readable(received)).toEqual(readable(inline));
    // Pinned, so that both sides agreeing on a wrong answer fails too.
    expect(received.accepted.map((c) => [c.issuer, c.crlNumber, c.signedBy.subject])).toEqual([
      ['CN=Worker CA,O=Worker', 42n, 'CN=Worker CA,O=Worker'],
      ['CN=Other CA,O=Worker', undefined, 'CN=Other CA,O=Worker'],
    ]);
    const [first] = received.accepted;
    expect(first!.revoked.has('0a1b')).toBe(true);
    expect(first!.revoked.has('7F')).toBe(true);
    expect(first!.revoked.has('0A1C')).toBe(false);
    expect(first!.revoked.reasonAt(first!.revoked.indexOf('0A1B'))).toBe(1);
    expect(first!.thisUpdate).toBe(thisUpdate);
    expect(first!.nextUpdate).toBe(nextUpdate);
    expect(first!.issuingDistributionPoint?.uris).toEqual(['http://crl.example/worker.crl']);
    expect(received.rejected.map((r) => [r.code, r.issuer])).toEqual([
      ['CRL_BAD_SIGNATURE', 'CN=Worker CA,O=Worker'],
      ['CRL_UNKNOWN_CRITICAL_EXTENSION', 'CN=Worker CA,O=Worker'],
    ]);
    expect(received.unusable.map((u) => [u.code, u.issuer, u.signedBy.subject])).toEqual([
      ['CRL_UNKNOWN_CRITICAL_EXTENSION', 'CN=Worker CA,O=Worker', 'CN=Worker CA,O=Worker'],
    ]);
    // Each accepted CRL's five revoked-set arrays moved (not copied): the worker's copies are gone.
    expect(transfer).toHaveLength(10);
    expect(transfer.every((b) => b.byteLength === 0)).toBe(true);
  });

  it('the wire form carries only data: no signature material, no class instances but the revoked set', () => {
    const { response, transfer } = answerRequest({ input: good, caPems });
    expect(response.rejected).toEqual([]);
    expect(response.unusable).toEqual([]);
    const [wire] = response.accepted;
    expect(Object.keys(wire!).sort()).toEqual([
      'authorityKeyId',
      'crlNumber',
      'issuer',
      'issuerDer',
      'issuingDistributionPoint',
      'nextUpdate',
      'revoked',
      'signedBy',
      'thisUpdate',
      'version',
    ]);
    expect(Object.keys(wire!.revoked).sort()).toEqual(['dates', 'offsets', 'pool', 'reasons', 'table']);
    const d = wire!.revoked;
    expect(transfer).toEqual([
      d.pool.buffer,
      d.offsets.buffer,
      d.dates.buffer,
      d.reasons.buffer,
      d.table.buffer,
    ]);
  });

  it('answers a request whose input sits in shared memory from a private copy', async () => {
    const shared = await copyToShared(mixed);
    const { response } = answerRequest({ input: shared, caPems });
    // The main thread may write its shared buffer after posting: the answer must not change.
    shared.fill(0);
    const received = receiveResponse(structuredClone(response));
    expect(readable(received)).toEqual(readable(parseAndVerifyCrlsInline(mixed, caPems)));
  });

  it('privateInput copies shared memory and passes an ordinary buffer through', async () => {
    const shared = await copyToShared(good);
    const copy = privateInput(shared);
    expect(copy.buffer).toBeInstanceOf(ArrayBuffer);
    expect(copy.buffer).not.toBe(shared.buffer);
    expect(Buffer.from(copy).equals(Buffer.from(good))).toBe(true);
    shared[0] = 0;
    expect(copy[0]).toBe(0x30);
    const plain = new Uint8Array(good);
    expect(privateInput(plain)).toBe(plain);
  });

  it('only what verifyParsedCrl accepted crosses back: a request with no CA accepts nothing', () => {
    const { received, transfer } = acrossThreads({ input: mixed, caPems: [] });
    expect(received.accepted).toEqual([]);
    expect(transfer).toEqual([]);
    expect(received.rejected.map((r) => r.code)).toEqual([
      'CRL_UNKNOWN_ISSUER',
      'CRL_UNKNOWN_ISSUER',
      'CRL_UNKNOWN_ISSUER',
      'CRL_UNKNOWN_CRITICAL_EXTENSION',
    ]);
    expect(received.unusable).toEqual([]);
  });

  it('a response the main thread cannot read rejects everything with CRL_INTERNAL', () => {
    const { response } = answerRequest({ input: good, caPems });
    const [wire] = response.accepted;
    // A hash table whose size is not a power of two: RevokedSet refuses it.
    const broken: WireResponse = {
      ...response,
      accepted: [{ ...wire!, revoked: { ...wire!.revoked, table: new Uint32Array(3) } }],
    };
    expect(receiveResponse(broken)).toEqual({
      accepted: [],
      rejected: [{ code: 'CRL_INTERNAL', reason: 'CRL worker: inconsistent revoked-set data' }],
      unusable: [],
    });
    const thrower = {
      get accepted(): never {
        throw 'not an Error';
      },
      rejected: [],
      unusable: [],
    } as unknown as WireResponse;
    expect(receiveResponse(thrower).rejected).toEqual([
      { code: 'CRL_INTERNAL', reason: 'CRL worker: not an Error' },
    ]);
  });

  it('failAll rejects everything, with the reason named', () => {
    expect(failAll('timed out')).toEqual({
      accepted: [],
      rejected: [{ code: 'CRL_INTERNAL', reason: 'CRL worker: timed out' }],
      unusable: [],
    });
  });
});

describe('which inputs go to a worker, and how', () => {
  it('handledInline: below the limit, unless forced; always when no worker can start', () => {
    expect(INLINE_LIMIT_BYTES).toBe(256 * 1024);
    expect(handledInline(INLINE_LIMIT_BYTES - 1, {}, true)).toBe(true);
    expect(handledInline(INLINE_LIMIT_BYTES, {}, true)).toBe(false);
    expect(handledInline(0, { forceWorker: true }, true)).toBe(false);
    expect(handledInline(0, { forceWorker: false }, true)).toBe(true);
    expect(handledInline(9, { inlineLimit: 10 }, true)).toBe(true);
    expect(handledInline(10, { inlineLimit: 10 }, true)).toBe(false);
    expect(handledInline(10, { inlineLimit: 10, forceWorker: true }, false)).toBe(true);
    expect(handledInline(10 * INLINE_LIMIT_BYTES, {}, false)).toBe(true);
  });

  it('transfersInput: only when asked and the view is the whole, ordinary buffer', async () => {
    const whole = new Uint8Array(16);
    expect(transfersInput(whole, { transferInput: true })).toBe(true);
    expect(transfersInput(whole, {})).toBe(false);
    expect(transfersInput(whole, { transferInput: false })).toBe(false);
    expect(transfersInput(whole.subarray(1), { transferInput: true })).toBe(false);
    expect(transfersInput(whole.subarray(0, 15), { transferInput: true })).toBe(false);
    expect(transfersInput(await copyToShared(whole), { transferInput: true })).toBe(false);
  });

  it('workerHeapMb: 256 MiB plus 8 per started MiB of input', () => {
    expect(workerHeapMb(0)).toBe(256);
    expect(workerHeapMb(1)).toBe(264);
    expect(workerHeapMb(1024 * 1024)).toBe(264);
    expect(workerHeapMb(1024 * 1024 + 1)).toBe(272);
    expect(workerHeapMb(40 * 1024 * 1024)).toBe(576);
  });

  it('copyToShared: the exact bytes, in shared memory, across several 4 MiB slices', async () => {
    const size = 9 * 1024 * 1024 + 3;
    const input = new Uint8Array(size);
    for (let i = 0; i < size; i++) input[i] = (i * 7 + (i >> 12)) & 0xff;
    const shared = await copyToShared(input.subarray(0));
    expect(shared.buffer).toBeInstanceOf(SharedArrayBuffer);
    expect(shared.byteLength).toBe(size);
    expect(Buffer.from(shared).equals(Buffer.from(input))).toBe(true);
    // A view into a larger buffer: only its bytes.
    const view = await copyToShared(input.subarray(5, 5 + 4 * 1024 * 1024 + 1));
    expect(Buffer.from(view).equals(Buffer.from(input.subarray(5, 5 + 4 * 1024 * 1024 + 1)))).toBe(true);
    expect((await copyToShared(new Uint8Array(0))).byteLength).toBe(0);
  });

  it('requestFor: the input itself with its buffer to move, or a shared copy and nothing to move', async () => {
    const owned = new Uint8Array(mixed);
    const moved = await requestFor(owned, caPems, { transferInput: true });
    expect(moved.request.input).toBe(owned);
    expect(moved.request.caPems).toBe(caPems);
    expect(moved.transfer).toEqual([owned.buffer]);
    expect(moved.transfer[0]).toBe(owned.buffer);
    for (const options of [{}, { transferInput: false }]) {
      const copied = await requestFor(owned, caPems, options);
      expect(copied.request.input.buffer).toBeInstanceOf(SharedArrayBuffer);
      expect(Buffer.from(copied.request.input).equals(Buffer.from(mixed))).toBe(true);
      expect(copied.request.caPems).toBe(caPems);
      expect(copied.transfer).toEqual([]);
    }
  });

  it('workerOptions: the mark the worker side answers to, and the heap bound', () => {
    expect(workerOptions(1024 * 1024 + 1)).toEqual({
      workerData: { mark: 'mtls-gateway/crl-worker' },
      resourceLimits: { maxOldGenerationSizeMb: 272 },
    });
  });

  it('copyToShared gives the event loop a turn between slices, and copies one slice in one step', async () => {
    const turns = async (size: number): Promise<boolean> => {
      let turned = false;
      setImmediate(() => {
        turned = true;
      });
      const copy = await copyToShared(new Uint8Array(size).fill(0x5a));
      expect(copy.byteLength).toBe(size);
      return turned;
    };
    expect(await turns(4 * 1024 * 1024 + 1)).toBe(true);
    expect(await turns(4 * 1024 * 1024)).toBe(false);
    expect(await turns(10)).toBe(false);
  });

  it('from the TypeScript sources no worker can start, so everything is handled inline', async () => {
    expect(workerAvailable).toBe(false);
    const result = await parseAndVerifyCrlsOffThread(mixed, caPems, {
      forceWorker: true,
      transferInput: true,
    });
    expect(readable(result)).toEqual(readable(parseAndVerifyCrlsInline(mixed, caPems)));
    expect(result.accepted).toHaveLength(2);
  });
});

/** A real worker thread running `body` (CommonJS, `port` is its parentPort). */
function scriptWorker(body: string, workerData?: unknown): Worker {
  return new Worker(`const port = require('node:worker_threads').parentPort;\n${body}`, {
    eval: true,
    workerData,
  });
}

describe('serveCrlRequests: the worker side over a real message port', () => {
  it('answers one request, transferring the revoked sets; the main side reads what inline gives', async () => {
    const { port1, port2 } = new MessageChannel();
    try {
      serveCrlRequests(port2);
      const input = new Uint8Array(mixed);
      port1.postMessage({ input, caPems } satisfies WireRequest, [input.buffer]);
      const [response] = (await once(port1, 'message')) as [WireResponse];
      expect(readable(receiveResponse(response))).toEqual(readable(parseAndVerifyCrlsInline(mixed, caPems)));
      expect(response.accepted).toHaveLength(2);
      expect(input.byteLength).toBe(0);
    } finally {
      port1.close();
      port2.close();
    }
  });
});

describe('answerOf: the lifecycle around a worker fails closed', () => {
  it('resolves with the answer, received as the main thread reads it, and ends the worker', async () => {
    const { response } = answerRequest({ input: mixed, caPems });
    // The worker answers with what the in-process worker side answered, once it got a request.
    const worker = scriptWorker(
      `const { workerData } = require('node:worker_threads');
       port.once('message', () => port.postMessage(workerData));
       setInterval(() => {}, 1000);`,
      response,
    );
    const exited = once(worker, 'exit');
    const input = new Uint8Array(mixed);
    const result = await answerOf(worker, { input, caPems }, [input.buffer], 60_000);
    expect(readable(result)).toEqual(readable(parseAndVerifyCrlsInline(mixed, caPems)));
    // The input's buffer was transferred with the request.
    expect(input.byteLength).toBe(0);
    // Terminated although it would have run forever.
    expect((await exited)[0]).toBe(1);
  });

  it('the request reaches the worker intact', async () => {
    const worker = scriptWorker(
      `port.once('message', (req) => port.postMessage({ accepted: [], unusable: [],
         rejected: [{ code: 'ECHO', reason: Buffer.from(req.input).toString('hex') + ' ' + req.caPems.join('|') }] }));`,
    );
    const result = await answerOf(
      worker,
      { input: new Uint8Array([1, 2, 0xff]), caPems: ['a', 'b'] },
      [],
      60_000,
    );
    expect(result).toEqual({
      accepted: [],
      rejected: [{ code: 'ECHO', reason: '0102ff a|b' }],
      unusable: [],
    });
  });

  it('a worker that throws: every CRL rejected with its error', async () => {
    const worker = scriptWorker(`port.once('message', () => { throw new Error('parser blew up'); });`);
    expect(await answerOf(worker, { input: good, caPems }, [], 60_000)).toEqual(failAll('parser blew up'));
  });

  it('a worker that exits without answering: every CRL rejected, with its exit code', async () => {
    const worker = scriptWorker(`port.once('message', () => process.exit(3));`);
    expect(await answerOf(worker, { input: good, caPems }, [], 60_000)).toEqual(
      failAll('exited with code 3 before answering'),
    );
  });

  it('a worker that never answers: every CRL rejected once the time is up, and the worker ended', async () => {
    const worker = scriptWorker(`port.on('message', () => {}); setInterval(() => {}, 1000);`);
    const exited = once(worker, 'exit');
    expect(await answerOf(worker, { input: good, caPems }, [], 50)).toEqual(failAll('timed out'));
    // It would run forever: its exit is the termination (whose code depends on how far it got).
    await exited;
  });

  it('only the first outcome counts: an exit after the answer does not undo it', async () => {
    const worker = scriptWorker(
      `port.once('message', () => { port.postMessage({ accepted: [], rejected: [], unusable: [] }); process.exit(7); });`,
    );
    expect(await answerOf(worker, { input: good, caPems }, [], 60_000)).toEqual({
      accepted: [],
      rejected: [],
      unusable: [],
    });
  });
});
