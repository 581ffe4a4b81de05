/**
 * Reading the trust sources for the store, with what reading needs to remember between polls:
 *
 * - the read cache: the last bytes read from each source, so a poll asks "anything newer than the
 *   version I hold?" and an "unchanged" answer costs nothing (a 304, a version id compare);
 * - versions held back: read and not activated (refused, or held by the lock-out guard), so a
 *   scheduled poll does not decide them again until something about them changes;
 * - the fleet's holds seen while reading (Secrets Manager AWSCURRENT labelled MTLSGW_HELD);
 * - the fleet labels this store wrote (MTLSGW_HELD, MTLSGW_LAST_GOOD), so each is written once.
 *
 * It knows nothing about what the bytes mean; the store decides, this module remembers.
 */
import type { Source } from '../config/config.js';
import type { Logger } from '../observability/index.js';
import {
  describeSource,
  type FetchResult,
  fetchSource,
  isUnchanged,
  labelSourceVersion,
  redactUrlsIn,
  SourceError,
} from './sources/index.js';
import type { FetchOptions } from './sources/types.js';
import type { FleetHeldStatus } from './trust-status.js';

/** What one read of a source gives the store. */
export interface SourceRead {
  readonly version: string;
  readonly bytes: Buffer;
  /** Secrets Manager staging labels of the version, comma-separated ('' for other kinds). */
  readonly labels: string;
  /** False when the source answered "unchanged" and the bytes are those read before. */
  readonly fresh: boolean;
}

/** One CRL source read (fresh or from the cache). */
export interface CrlRead {
  /** describeSource of the source. */
  readonly name: string;
  readonly version: string;
  readonly bytes: Buffer;
  readonly labels: readonly string[];
}

/**
 * Why a version read was not activated: `invalid` (refused; waits for new bytes), `guard` (held
 * by the lock-out guard; decided again when its labels change), `guard_time` (held only because a
 * CA is not valid yet: decided again on every poll).
 */
export type HeldWhy = 'invalid' | 'guard' | 'guard_time';

export interface HeldBack {
  readonly version: string;
  readonly labels: string;
  readonly why: HeldWhy;
}

export type LabelDecision = 'held' | 'installed';

export interface SourceReadsOptions {
  readonly logger: Logger;
  /** How sources are read (default fetchSource; cluster workers read what the primary relayed). */
  readonly fetch?: ((source: Source, options: FetchOptions) => Promise<FetchResult>) | undefined;
  /** Writes a fleet label (default labelSourceVersion); null writes none. */
  readonly label?:
    | ((source: Source, decision: LabelDecision, version: string) => Promise<boolean>)
    | null
    | undefined;
  /** The whole-read deadline of one read. */
  readonly timeoutMs: number;
}

const errorCode = (err: Error): string | undefined => (err as { code?: string }).code;

export class SourceReads {
  /** The last bytes read from each source, whatever became of them. */
  private readonly seen = new Map<string, { readonly version: string; readonly bytes: Buffer }>();
  /** Keyed 'ca_bundle', 'server_cert', or a CRL source's name. */
  private readonly held = new Map<string, HeldBack>();
  /** Per source: an AWSCURRENT version the fleet holds back (MTLSGW_HELD), skipped when read. */
  private readonly fleetHeld = new Map<string, { version: string; reading: string }>();
  /** The version each source was last labelled with by this store, so a label is written once. */
  private readonly labelled = new Map<string, string>();

  constructor(private readonly opts: SourceReadsOptions) {}

  /**
   * Reads a source: fresh bytes are remembered; "unchanged" answers with the bytes read before.
   * `explicit` (a refresh) asks for the bytes whatever version is held.
   */
  async read(source: Source, explicit: boolean): Promise<SourceRead> {
    const name = describeSource(source);
    const before = this.seen.get(name);
    const result = await (this.opts.fetch ?? fetchSource)(source, {
      knownVersion: explicit ? undefined : before?.version,
      timeoutMs: this.opts.timeoutMs,
    });
    const labels = result.labels.join(',');
    this.noteFleetHold(name, result);
    if (isUnchanged(result) && before?.version === result.version) {
      return { version: result.version, bytes: before.bytes, labels, fresh: false };
    }
    if (isUnchanged(result)) throw new SourceError(name, 'INTERNAL', 'unchanged answer without a prior read');
    this.seen.set(name, { version: result.version, bytes: result.bytes });
    return { version: result.version, bytes: result.bytes, labels, fresh: true };
  }

  /** Reads every CRL source concurrently; a failed one is passed to `onError` and left out. */
  async readCrls(
    sources: readonly Source[],
    explicit: boolean,
    onError: (name: string, err: Error) => void,
  ): Promise<CrlRead[]> {
    const all = await Promise.all(
      sources.map(async (source): Promise<CrlRead | undefined> => {
        const name = describeSource(source);
        try {
          const r = await this.read(source, explicit);
          return { name, version: r.version, bytes: r.bytes, labels: r.labels ? r.labels.split(',') : [] };
        } catch (err) {
          onError(name, err as Error);
          return undefined;
        }
      }),
    );
    return all.filter((f): f is CrlRead => f !== undefined);
  }

  /** The version last read from the source named `name` (the store's rejections are keyed by it). */
  lastVersionRead(name: string): string | undefined {
    return this.seen.get(name)?.version;
  }

  /** True when a version read before was rejected or held back and nothing about it changed. */
  stillHeld(key: string, version: string, labels: string, explicit: boolean): boolean {
    const held = this.held.get(key);
    if (!held || held.version !== version || explicit) return false;
    // A guard-held version whose labels changed (the force label was added) is decided again; one
    // held only for time is decided again on every poll (it may be valid now).
    if (held.why === 'guard_time') return false;
    return held.why === 'invalid' || held.labels === labels;
  }

  hold(key: string, held: HeldBack): void {
    this.held.set(key, held);
  }

  release(key: string): void {
    this.held.delete(key);
  }

  /** The version held back under `key`, if any. */
  heldVersion(key: string): string | undefined {
    return this.held.get(key)?.version;
  }

  /**
   * Versions the lock-out guard holds back, by source name (`ca_bundle` is named `caBundleName`):
   * a cluster primary relays every fresh read to its workers except these.
   */
  guardHeldVersions(caBundleName: string): Map<string, string> {
    const out = new Map<string, string>();
    for (const [key, h] of this.held) {
      if (h.why === 'invalid') continue;
      out.set(key === 'ca_bundle' ? caBundleName : key, h.version);
    }
    return out;
  }

  /** The fleet holds seen by the last read of each source, for /trust. */
  fleetHolds(): FleetHeldStatus[] {
    return [...this.fleetHeld].map(([source, h]) => ({
      source,
      held_version: h.version,
      serving_version: h.reading,
    }));
  }

  /**
   * Writes the fleet label for a decision (once per source and version); a failure (permission,
   * throttling) is logged and costs only the fleet-wide view, never the decision itself.
   */
  label(source: Source, decision: LabelDecision, version: string): void {
    const label = this.opts.label === undefined ? labelSourceVersion : this.opts.label;
    if (!label || !version) return;
    const name = describeSource(source);
    const key = `${name}|${decision}`;
    if (this.labelled.get(key) === version) return;
    this.labelled.set(key, version);
    label(source, decision, version).then(
      (written) => {
        if (written)
          this.opts.logger.info({
            event: 'trust',
            source: name,
            result: decision === 'held' ? 'labelled_held' : 'labelled_last_good',
            version,
          });
      },
      (err: Error) => {
        this.labelled.delete(key);
        this.opts.logger.warn({
          event: 'trust',
          source: name,
          result: 'label_failed',
          decision,
          version,
          error_code: errorCode(err) ?? err.name,
          reason: redactUrlsIn(err.message),
        });
      },
    );
  }

  /** A read that skipped a held AWSCURRENT: said once per held version (log and /trust). */
  private noteFleetHold(name: string, result: FetchResult): void {
    const held = result.skippedHeld;
    if (held === undefined) {
      this.fleetHeld.delete(name);
      return;
    }
    if (this.fleetHeld.get(name)?.version === held) return;
    this.fleetHeld.set(name, { version: held, reading: result.version });
    this.opts.logger.warn({
      event: 'trust',
      source: name,
      result: 'fleet_held',
      held_version: held,
      version: result.version,
      msg: 'AWSCURRENT is held back by the fleet (MTLSGW_HELD): serving the last good version; push a new version, or label it MTLS_GATEWAY_FORCE, to lift the hold',
    });
  }
}
