/**
 * Parses and verifies CRLs off the event loop, so a CRL of a million entries never stalls the
 * serving path: this file is both the worker (when started with our workerData mark) and the API
 * the trust store calls (`parseAndVerifyCrlsOffThread`).
 *
 * Security property (fail closed): the worker only ever answers with CRLs that verifyParsedCrl
 * accepted; if the worker fails, exits, or times out, every CRL of the input is reported rejected
 * (code CRL_INTERNAL) and nothing from it is used.
 *
 * Results cross the thread boundary as a few ArrayBuffers per CRL (the RevokedSet's packed serial
 * pool, offsets, dates, reasons and hash table are transferred, not copied), so the main thread
 * does O(1) work per CRL to receive them, whatever their size.
 *
 * Inline fallback: inputs below `inlineLimit` (256 KiB) are handled on the calling thread, and so
 * is everything when this module runs from its `.ts` source (under vitest there is no compiled
 * worker to start); run from `dist/` the worker is this same file, resolved via import.meta.url.
 * Each side is a function (answerRequest and serveCrlRequests in the worker, requestFor, answerOf
 * and receiveResponse on the main thread), so tests run both in process; the worker block at the
 * end only calls serveCrlRequests.
 */
import {
  isMainThread,
  type MessagePort,
  parentPort,
  Worker,
  type WorkerOptions,
  workerData,
} from 'node:worker_threads';
import { type IssuingDistributionPoint, RevokedSet, type RevokedSetData } from './parse-crl.js';
import {
  type CrlLoadResult,
  type CrlSigner,
  certificatesFromPem,
  type RejectedCrl,
  type UnusableCrl,
  type VerifiedCrl,
  verifiedCrlsFrom,
} from './verify-crl.js';

const WORKER_MARK = 'mtls-gateway/crl-worker';
export const INLINE_LIMIT_BYTES = 256 * 1024;

export interface WireCrl {
  readonly version: 1 | 2;
  readonly issuerDer: Uint8Array;
  readonly issuer: string;
  readonly thisUpdate: number;
  readonly nextUpdate: number | undefined;
  readonly crlNumber: bigint | undefined;
  readonly authorityKeyId: Uint8Array | undefined;
  readonly issuingDistributionPoint: IssuingDistributionPoint | undefined;
  readonly signedBy: CrlSigner;
  readonly revoked: RevokedSetData;
}

/** What the main thread posts to the worker. */
export interface WireRequest {
  readonly input: Uint8Array;
  readonly caPems: readonly string[];
}

/** What the worker posts back: only CRLs verifyParsedCrl accepted, in wire form. */
export interface WireResponse {
  readonly accepted: WireCrl[];
  readonly rejected: RejectedCrl[];
  readonly unusable: UnusableCrl[];
}

/** Runs on whichever thread: parse + verify every CRL of the input against the PEM CAs. */
export function parseAndVerifyCrlsInline(input: Uint8Array, caPems: readonly string[]): CrlLoadResult {
  return verifiedCrlsFrom(input, certificatesFromPem(caPems));
}

function toWire(crl: VerifiedCrl): WireCrl {
  const { revoked, ...rest } = crl;
  return { ...rest, revoked: revoked.data };
}

function fromWire(crl: WireCrl): VerifiedCrl {
  const { revoked, ...rest } = crl;
  return { ...rest, revoked: new RevokedSet(revoked) };
}

/** The answer when the worker could not answer: every CRL of the input rejected, none used. */
export function failAll(reason: string): CrlLoadResult {
  return {
    accepted: [],
    rejected: [{ code: 'CRL_INTERNAL', reason: `CRL worker: ${reason}` }],
    unusable: [],
  };
}

/**
 * The request's input, as the worker parses it: a private copy when it sits in shared memory, so
 * that nothing parsed from it may alias memory the main thread can still write.
 */
export function privateInput(input: Uint8Array): Uint8Array {
  return input.buffer instanceof SharedArrayBuffer ? new Uint8Array(input) : input;
}

/**
 * The worker's side of one request: parse + verify, then the response (accepted CRLs in wire
 * form) and the buffers to transfer with it (each accepted RevokedSet's arrays, not copied).
 */
export function answerRequest(request: WireRequest): { response: WireResponse; transfer: ArrayBuffer[] } {
  const result = parseAndVerifyCrlsInline(privateInput(request.input), request.caPems);
  return {
    response: { accepted: result.accepted.map(toWire), rejected: result.rejected, unusable: result.unusable },
    transfer: result.accepted.flatMap((crl) => crl.revoked.transferables()),
  };
}

/** The main thread's side: the worker's response as a CrlLoadResult; an unreadable one rejects all. */
export function receiveResponse(msg: WireResponse): CrlLoadResult {
  try {
    return { accepted: msg.accepted.map(fromWire), rejected: msg.rejected, unusable: msg.unusable };
  } catch (err) {
    return failAll(err instanceof Error ? err.message : String(err));
  }
}

export interface OffThreadOptions {
  /** Inputs smaller than this are handled inline (default 256 KiB). */
  readonly inlineLimit?: number;
  /** Give up (and reject everything) after this long (default 120 s). */
  readonly timeoutMs?: number;
  /** Transfer `input`'s buffer to the worker instead of copying it (the caller must not use it after). */
  readonly transferInput?: boolean;
  /** Force the worker even for small inputs (tests); ignored when running from .ts sources. */
  readonly forceWorker?: boolean;
}

/** Whether a worker can be started from this module (false when running from TypeScript source). */
export const workerAvailable = !import.meta.url.endsWith('.ts');

/** Whether an input of `byteLength` bytes is handled on the calling thread (`available`: workerAvailable). */
export function handledInline(byteLength: number, options: OffThreadOptions, available: boolean): boolean {
  return !available || (!options.forceWorker && byteLength < (options.inlineLimit ?? INLINE_LIMIT_BYTES));
}

/** Whether `input`'s buffer can be transferred to the worker: asked for, and the view is the whole buffer. */
export function transfersInput(input: Uint8Array, options: OffThreadOptions): boolean {
  return (
    options.transferInput === true &&
    input.byteOffset === 0 &&
    input.byteLength === input.buffer.byteLength &&
    input.buffer instanceof ArrayBuffer
  );
}

/** The worker's heap bound for an input of `byteLength` bytes (MiB): the parser allocates in proportion. */
export function workerHeapMb(byteLength: number): number {
  return 256 + 8 * Math.ceil(byteLength / (1024 * 1024));
}

/**
 * Parses and verifies every CRL in `input` against the CAs in `caPems` (PEM bundles) without
 * blocking the event loop for large inputs. Never rejects: failures are in `rejected`.
 */
export async function parseAndVerifyCrlsOffThread(
  input: Uint8Array,
  caPems: readonly string[],
  options: OffThreadOptions = {},
): Promise<CrlLoadResult> {
  if (handledInline(input.byteLength, options, workerAvailable))
    return parseAndVerifyCrlsInline(input, caPems);
  const { request, transfer } = await requestFor(input, caPems, options);
  const worker = new Worker(new URL(import.meta.url), workerOptions(input.byteLength));
  return answerOf(worker, request, transfer, options.timeoutMs ?? 120_000);
}

/**
 * The request for `input` and its transfer list. postMessage would structured-clone the input
 * (copy twice, ~90 ms for 40 MB, all on this thread): instead its own buffer is moved when it may
 * be (transfersInput), else it is copied into shared memory in slices, yielding between them.
 */
export async function requestFor(
  input: Uint8Array,
  caPems: readonly string[],
  options: OffThreadOptions,
): Promise<{ request: WireRequest; transfer: ArrayBuffer[] }> {
  if (transfersInput(input, options))
    return { request: { input, caPems }, transfer: [input.buffer as ArrayBuffer] };
  return { request: { input: await copyToShared(input), caPems }, transfer: [] };
}

/** How the CRL worker is started: marked as ours (see serveCrlRequests) and with a bounded heap. */
export function workerOptions(inputBytes: number): WorkerOptions {
  return {
    workerData: { mark: WORKER_MARK },
    // Bounded: the parser allocates in proportion to its input; this caps any surprise.
    resourceLimits: { maxOldGenerationSizeMb: workerHeapMb(inputBytes) },
  };
}

/**
 * Posts `request` to a started CRL worker and resolves with its one answer, then terminates it.
 * Fails closed: an error, an exit before answering, an unreadable answer or no answer within
 * `timeoutMs` resolve to failAll (every CRL rejected, CRL_INTERNAL). Never rejects.
 */
export function answerOf(
  worker: Worker,
  request: WireRequest,
  transfer: readonly ArrayBuffer[],
  timeoutMs: number,
): Promise<CrlLoadResult> {
  return new Promise<CrlLoadResult>((resolve) => {
    let settled = false;
    const finish = (result: CrlLoadResult): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      void worker.terminate();
      resolve(result);
    };
    const timer = setTimeout(() => finish(failAll('timed out')), timeoutMs);
    worker.once('message', (msg: WireResponse) => finish(receiveResponse(msg)));
    worker.once('error', (err) => finish(failAll(err.message)));
    worker.once('exit', (code) => finish(failAll(`exited with code ${code} before answering`)));
    worker.postMessage(request, [...transfer]);
  });
}

const COPY_SLICE_BYTES = 4 * 1024 * 1024;

/** Copies `input` into a SharedArrayBuffer a slice at a time, so no single step blocks for long. */
export async function copyToShared(input: Uint8Array): Promise<Uint8Array> {
  const shared = new Uint8Array(new SharedArrayBuffer(input.byteLength));
  for (let at = 0; at < input.byteLength; at += COPY_SLICE_BYTES) {
    if (at > 0) await new Promise<void>((resolve) => setImmediate(resolve));
    shared.set(input.subarray(at, Math.min(input.byteLength, at + COPY_SLICE_BYTES)), at);
  }
  return shared;
}

// ---- worker side ---------------------------------------------------------------------------------

/** The worker's loop: answers the one request that arrives on `port` (answerRequest). */
export function serveCrlRequests(port: MessagePort): void {
  port.once('message', (request: WireRequest) => {
    const { response, transfer } = answerRequest(request);
    port.postMessage(response, transfer);
  });
}

const data = workerData as { mark?: unknown } | null | undefined;
if (!isMainThread && parentPort && data?.mark === WORKER_MARK) serveCrlRequests(parentPort);
