/**
 * `GATEWAY_CONFIG=ssm:<parameter name>`: the route and partner policy kept in SSM Parameter Store
 * (a SecureString, decrypted by SSM for the task role), as the seed's case study kept it.
 *
 * The gateway reads its policy from a file, synchronously, at start and on every reload, and keeps
 * the policy in force when a reload fails validation. So this source is materialized: `serve`
 * fetches the parameter before loading the configuration, validates it, and writes it atomically
 * (temp file + rename, mode 0600) to a private file that GATEWAY_CONFIG then names, for this
 * process and the cluster workers it forks. A poller fetches it again every
 * GATEWAY_TRUST_REFRESH_SECONDS, and `serve` calls `pollNow` from its coalesced SIGHUP reload (this
 * class registers no signal handler: a storm of signals must not be one AWS call each); it
 * rewrites the file only when the value changed and is valid, and the gateway's own reload picks
 * the new file up. A failed or invalid fetch changes
 * nothing: the last good policy stays in force (fail closed: at start, no policy means no start).
 *
 * The SDK client uses the default credential chain and region; AWS_ENDPOINT_URL_SSM (or
 * AWS_ENDPOINT_URL) points it elsewhere, which is how the tests reach a local SSM server.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GetParameterCommand, SSMClient } from '@aws-sdk/client-ssm';
import { parseGatewayConfig } from './gateway-config-file.js';

export const SSM_PREFIX = 'ssm:';
/** Parameter names as SSM allows them: letters, digits, `_.-/`, optionally a hierarchy from `/`. */
const NAME = /^[A-Za-z0-9_.\-/]{1,1011}$/;

export class ParameterStoreError extends Error {
  override readonly name = 'ParameterStoreError';
  constructor(
    readonly parameter: string,
    /** The AWS error name (`ParameterNotFound`, `AccessDeniedException`), TIMEOUT or INVALID. */
    readonly code: string,
    detail: string,
  ) {
    super(`ssm:${parameter}: ${detail}`);
  }
}

/** The parameter name of an `ssm:` GATEWAY_CONFIG value, undefined for a file path. */
export function parameterNameOf(value: string | undefined): string | undefined {
  if (!value?.startsWith(SSM_PREFIX)) return undefined;
  const name = value.slice(SSM_PREFIX.length);
  if (!NAME.test(name)) {
    throw new ParameterStoreError(name, 'INVALID', 'is not a valid parameter name (letters, digits, _.-/)');
  }
  return name;
}

let shared: { key: string; client: SSMClient } | undefined;

function client(): SSMClient {
  const env = process.env;
  const key = [env.AWS_REGION, env.AWS_ENDPOINT_URL_SSM, env.AWS_ENDPOINT_URL].join('|');
  if (shared?.key !== key) {
    shared?.client.destroy();
    shared = { key, client: new SSMClient({ maxAttempts: 2 }) };
  }
  return shared.client;
}

/** The parameter's decrypted value and version; throws ParameterStoreError. */
export async function fetchParameter(
  name: string,
  timeoutMs = 10_000,
): Promise<{ value: string; version: number | undefined }> {
  const signal = AbortSignal.timeout(timeoutMs);
  try {
    const out = await client().send(new GetParameterCommand({ Name: name, WithDecryption: true }), {
      abortSignal: signal,
    });
    const value = out.Parameter?.Value;
    if (value === undefined || value === '')
      throw new ParameterStoreError(name, 'EMPTY', 'the parameter is empty');
    return { value, version: out.Parameter?.Version };
  } catch (err) {
    if (err instanceof ParameterStoreError) throw err;
    const e = err as { name?: string; message?: string };
    if (signal.aborted || e.name === 'AbortError' || e.name === 'TimeoutError') {
      throw new ParameterStoreError(name, 'TIMEOUT', 'no answer before the timeout');
    }
    const code = e.name && e.name !== 'Error' ? e.name : 'NETWORK';
    throw new ParameterStoreError(name, code, `${code}: ${(e.message ?? '').split('\n')[0]?.slice(0, 200)}`);
  }
}

export interface PolicyLogger {
  info(fields: Record<string, unknown>): void;
  error(fields: Record<string, unknown>): void;
}

/** The materialized parameter: its file, and a poller that keeps it current. */
export class ParameterStorePolicy {
  private timer: NodeJS.Timeout | undefined;
  private logger: PolicyLogger | undefined;
  private polling: Promise<void> | undefined;

  private constructor(
    readonly parameter: string,
    readonly file: string,
    private readonly dir: string,
    private text: string,
    private version: number | undefined,
  ) {}

  /**
   * Fetches and validates the parameter and writes its file. Throws (ParameterStoreError, or the
   * GatewayConfigFileError of an invalid policy) so that `serve` stops naming GATEWAY_CONFIG.
   */
  static async materialize(parameter: string): Promise<ParameterStorePolicy> {
    const { value, version } = await fetchParameter(parameter);
    parseGatewayConfig(value);
    const dir = mkdtempSync(join(tmpdir(), 'mtls-gateway-config-'));
    const p = new ParameterStorePolicy(parameter, join(dir, 'gateway-config.json'), dir, value, version);
    p.write(value);
    process.once('exit', () => p.remove());
    return p;
  }

  private write(text: string): void {
    const tmp = join(this.dir, `.next-${randomBytes(6).toString('hex')}`);
    writeFileSync(tmp, text, { mode: 0o600 });
    renameSync(tmp, this.file);
  }

  /** One fetch; rewrites the file when the value changed and is a valid policy. */
  async poll(): Promise<'unchanged' | 'success' | 'failure'> {
    try {
      const { value, version } = await fetchParameter(this.parameter);
      if (value === this.text) return 'unchanged';
      parseGatewayConfig(value);
      this.write(value);
      this.text = value;
      this.version = version;
      this.logger?.info({
        event: 'policy',
        msg: 'GATEWAY_CONFIG parameter changed; the policy reloads from it',
        parameter: this.parameter,
        version,
      });
      return 'success';
    } catch (err) {
      this.logger?.error({
        event: 'policy',
        msg: 'GATEWAY_CONFIG parameter not taken; the policy in force is kept',
        parameter: this.parameter,
        version: this.version,
        error: (err as Error).message,
      });
      return 'failure';
    }
  }

  /** Polls every `seconds`; one poll at a time (see pollNow). */
  start(seconds: number, logger: PolicyLogger): void {
    this.logger = logger;
    this.timer = setInterval(() => void this.pollNow(), seconds * 1000);
    this.timer.unref();
  }

  /** A poll now, or the one already under way: resolves when it has finished (never rejects). */
  pollNow(): Promise<void> {
    this.polling ??= this.poll().then(() => {
      this.polling = undefined;
    });
    return this.polling;
  }

  stop(): void {
    clearInterval(this.timer);
  }

  private remove(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}
