/** What a source read returns: new bytes with their version, or "unchanged since knownVersion". */
export interface Fetched {
  readonly bytes: Buffer;
  /** Content hash, Secrets Manager version id, or ETag. */
  readonly version: string;
  /** Secrets Manager staging labels of the version read (empty for other kinds). */
  readonly labels: readonly string[];
  /**
   * The AWSCURRENT version that was NOT read because a gateway of the fleet held it back
   * (staging label MTLSGW_HELD, without the force label); the version read is the last good one.
   */
  readonly skippedHeld?: string;
}

export interface Unchanged {
  readonly unchanged: true;
  readonly version: string;
  readonly labels: readonly string[];
  readonly skippedHeld?: string;
}

export type FetchResult = Fetched | Unchanged;

export interface FetchOptions {
  /** The version the caller already holds; a source answers Unchanged instead of re-reading it. */
  readonly knownVersion?: string | undefined;
  /** Whole-read deadline, retries included. */
  readonly timeoutMs?: number;
}

export const DEFAULT_TIMEOUT_MS = 10_000;

export function isUnchanged(r: FetchResult): r is Unchanged {
  return 'unchanged' in r;
}
