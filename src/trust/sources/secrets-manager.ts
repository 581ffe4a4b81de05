/**
 * Secrets Manager sources. A poll costs one DescribeSecret; GetSecretValue runs only when the
 * AWSCURRENT version id changed, and asks for exactly that version id so the bytes and the version
 * reported always belong together. PEM text in SecretString, PEM or DER in SecretBinary.
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
  const current = Object.entries(described.VersionIdsToStages ?? {}).find(([, stages]) =>
    stages.includes('AWSCURRENT'),
  );
  if (!current) throw new SourceError(name, 'NO_CURRENT_VERSION', 'the secret has no AWSCURRENT version');
  const [version, labels] = current;
  if (version === options.knownVersion) return { unchanged: true, version, labels };
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
  return { bytes, version, labels };
}
