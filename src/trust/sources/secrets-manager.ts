/**
 * Secrets Manager sources. A poll costs one DescribeSecret; GetSecretValue runs only when the
 * version to read changed, and asks for exactly that version id so the bytes and the version
 * reported always belong together. PEM text in SecretString, PEM or DER in SecretBinary.
 *
 * The fleet's lock-out decision lives on the secret itself, as staging labels every task reads:
 * a gateway that holds a version back labels it MTLSGW_HELD, and a gateway that installs one moves
 * MTLSGW_LAST_GOOD onto it. The version to read is AWSCURRENT, unless AWSCURRENT is held (and not
 * labelled MTLS_GATEWAY_FORCE): then it is MTLSGW_LAST_GOOD (or AWSPREVIOUS where no gateway has
 * labelled one yet), so a task started after the hold loads what the running tasks serve. A new
 * AWSCURRENT, or the force label, lifts the hold.
 *
 * The client uses the SDK's default credential chain and region, and honours
 * AWS_ENDPOINT_URL_SECRETS_MANAGER / AWS_ENDPOINT_URL natively (smithy's getEndpointUrlConfig).
 */
import {
  DescribeSecretCommand,
  type DescribeSecretCommandOutput,
  GetSecretValueCommand,
  type GetSecretValueCommandOutput,
  SecretsManagerClient,
  UpdateSecretVersionStageCommand,
} from '@aws-sdk/client-secrets-manager';
import { awsSourceError } from './aws-error.js';
import { MAX_SOURCE_BYTES, SourceError } from './source-error.js';
import { DEFAULT_TIMEOUT_MS, type FetchOptions, type FetchResult } from './types.js';

let shared: { key: string; client: SecretsManagerClient } | undefined;

/** One client per process; re-created only if the endpoint or region environment changed (tests). */
function client(): SecretsManagerClient {
  const env = process.env;
  const key = [env.AWS_REGION, env.AWS_ENDPOINT_URL_SECRETS_MANAGER, env.AWS_ENDPOINT_URL].join('|');
  if (shared?.key !== key) {
    shared?.client.destroy();
    // Two attempts inside one poll (the SDK backs off between them); the store's schedule is the
    // outer retry loop, so a throttled account is not hammered.
    shared = { key, client: new SecretsManagerClient({ maxAttempts: 2 }) };
  }
  return shared.client;
}

export async function fetchSecret(
  name: string,
  secretId: string,
  options: FetchOptions,
): Promise<FetchResult> {
  const signal = AbortSignal.timeout(options.timeoutMs ?? DEFAULT_TIMEOUT_MS);
  const sm = client();
  let described: DescribeSecretCommandOutput;
  try {
    described = await sm.send(new DescribeSecretCommand({ SecretId: secretId }), { abortSignal: signal });
  } catch (err) {
    throw awsSourceError(name, err, signal);
  }
  const stages = Object.entries(described.VersionIdsToStages ?? {});
  const current = stages.find(([, labels]) => labels.includes('AWSCURRENT'));
  if (!current) throw new SourceError(name, 'NO_CURRENT_VERSION', 'the secret has no AWSCURRENT version');
  const chosen = versionToRead(stages, current);
  const [version, labels] = chosen;
  const skipped = chosen === current ? {} : { skippedHeld: current[0] };
  if (version === options.knownVersion) return { unchanged: true, version, labels, ...skipped };
  let value: GetSecretValueCommandOutput;
  try {
    value = await sm.send(new GetSecretValueCommand({ SecretId: secretId, VersionId: version }), {
      abortSignal: signal,
    });
  } catch (err) {
    throw awsSourceError(name, err, signal);
  }
  const bytes =
    value.SecretString !== undefined
      ? Buffer.from(value.SecretString, 'utf8')
      : value.SecretBinary !== undefined
        ? Buffer.from(value.SecretBinary)
        : undefined;
  if (!bytes || bytes.length === 0) throw new SourceError(name, 'EMPTY_SECRET', 'the secret value is empty');
  if (bytes.length > MAX_SOURCE_BYTES) {
    throw new SourceError(name, 'TOO_LARGE', `larger than ${MAX_SOURCE_BYTES} bytes`);
  }
  return { bytes, version, labels, ...skipped };
}

export const HELD_STAGE = 'MTLSGW_HELD';
export const LAST_GOOD_STAGE = 'MTLSGW_LAST_GOOD';
const FORCE_STAGE = 'MTLS_GATEWAY_FORCE';

type Staged = [string, string[]];

/** AWSCURRENT, or the last good version when a gateway of the fleet held AWSCURRENT back. */
function versionToRead(stages: readonly Staged[], current: Staged): Staged {
  const labels = current[1];
  if (!labels.includes(HELD_STAGE) || labels.includes(FORCE_STAGE)) return current;
  return (
    stages.find(([, l]) => l.includes(LAST_GOOD_STAGE)) ??
    stages.find(([, l]) => l.includes('AWSPREVIOUS')) ??
    current // nothing older to fall back to: the store decides it again
  );
}

/**
 * Moves a staging label onto `versionId` (UpdateSecretVersionStage, the one write a gateway does;
 * the task role has that permission on the trust secrets only). Reads the label's current holder
 * first, since AWS requires it to be named when the label moves.
 */
export async function moveSecretStage(secretId: string, stage: string, versionId: string): Promise<void> {
  const sm = client();
  const signal = AbortSignal.timeout(DEFAULT_TIMEOUT_MS);
  const described = await sm.send(new DescribeSecretCommand({ SecretId: secretId }), { abortSignal: signal });
  const holder = Object.entries(described.VersionIdsToStages ?? {}).find(([, l]) => l.includes(stage))?.[0];
  if (holder === versionId) return;
  await sm.send(
    new UpdateSecretVersionStageCommand({
      SecretId: secretId,
      VersionStage: stage,
      MoveToVersionId: versionId,
      ...(holder ? { RemoveFromVersionId: holder } : {}),
    }),
    { abortSignal: signal },
  );
}
