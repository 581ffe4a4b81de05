/**
 * Loads trust material for an offline decision with the gateway's own validators: the bundle
 * through `parseCaBundle` (if the gateway would refuse it whole, the blocks it accepts one by one
 * are used so the rest of the report stays useful) and CRLs through `verifiedCrlsFrom` into a
 * `RevocationIndex`.
 */
import { type CaBundle, parseCaBundle } from '../trust/ca-bundle.js';
import { type CrlLoadResult, verifiedCrlsFrom } from '../trust/crl/verify-crl.js';
import { splitPem } from '../trust/pem.js';
import { RevocationIndex } from '../trust/revocation-index.js';

export interface LoadedBundle {
  /** The bundle the checks run against (the usable blocks when the gateway refuses the whole). */
  readonly bundle: CaBundle | undefined;
  /** Why the gateway would refuse this bundle as a whole; undefined when it accepts it. */
  readonly gatewayError: string | undefined;
}

export function loadBundle(bytes: Uint8Array, opts: { now: number; production: boolean }): LoadedBundle {
  try {
    return { bundle: parseCaBundle(bytes, opts), gatewayError: undefined };
  } catch (err) {
    const gatewayError = (err as Error).message;
    let blocks: ReturnType<typeof splitPem>['blocks'];
    try {
      blocks = splitPem(Buffer.from(bytes).toString('latin1')).blocks;
    } catch {
      return { bundle: undefined, gatewayError };
    }
    const usable: string[] = [];
    for (const block of blocks) {
      const pem = `-----BEGIN ${block.label}-----\n${block.der.toString('base64')}\n-----END ${block.label}-----\n`;
      try {
        parseCaBundle(Buffer.from(pem), opts);
        usable.push(pem);
      } catch {
        // refused on its own: reported per block by the caller
      }
    }
    if (usable.length === 0) return { bundle: undefined, gatewayError };
    return { bundle: parseCaBundle(Buffer.from(usable.join('')), opts), gatewayError };
  }
}

export interface LoadedCrls {
  readonly results: readonly { readonly name: string; readonly result: CrlLoadResult }[];
  readonly index: RevocationIndex;
}

export function loadCrls(
  inputs: readonly { readonly name: string; readonly bytes: Uint8Array }[],
  bundle: CaBundle | undefined,
): LoadedCrls {
  const cas = bundle?.cas.map((c) => c.x509) ?? [];
  const results = inputs.map((i) => ({ name: i.name, result: verifiedCrlsFrom(i.bytes, cas) }));
  const index = RevocationIndex.build(results.flatMap((r) => r.result.accepted)).index;
  return { results, index };
}
