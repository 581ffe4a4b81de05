/**
 * An immutable TrustSnapshot: everything one TLS context and one revocation decision need, loaded
 * and validated together. The store swaps whole snapshots; nothing mutates one in place, so a
 * connection checked against generation N saw a consistent CA bundle, CRL set and server chain.
 */
import type { CaBundle } from './ca-bundle.js';
import type { RevocationIndex } from './revocation-index.js';
import type { ServerCredentials } from './server-credentials.js';

export interface LoadedMaterial {
  readonly source: string;
  readonly version: string;
  readonly loadedAt: number;
}

export interface TrustSnapshot {
  /** Increases by one with every swap. */
  readonly generation: number;
  readonly caBundle: CaBundle;
  readonly caBundleInfo: LoadedMaterial;
  readonly server: ServerCredentials;
  readonly serverInfo: LoadedMaterial;
  readonly revocation: RevocationIndex;
}
