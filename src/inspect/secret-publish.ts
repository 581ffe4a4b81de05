/**
 * The one I/O edge of this room: reading the AWSCURRENT version of a secret (with the gateway's own
 * Secrets Manager source, so what `push` compares against is what the gateway reads) and writing a
 * new version. The SDK client is configured as the gateway's: default credential chain and region,
 * AWS_ENDPOINT_URL_SECRETS_MANAGER / AWS_ENDPOINT_URL honoured.
 */
import {
  CreateSecretCommand,
  PutSecretValueCommand,
  SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import { FORCE_STAGE_LABEL } from '../trust/rotation-guard.js';
import { fetchSource, isUnchanged, SourceError } from '../trust/sources/index.js';
import { moveSecretStage } from '../trust/sources/secrets-manager.js';

export interface CurrentSecret {
  readonly version: string;
  readonly bytes: Buffer;
}

/** The AWSCURRENT version, or undefined when the secret does not exist. */
export async function readCurrentSecret(secretId: string): Promise<CurrentSecret | undefined> {
  let fetched: Awaited<ReturnType<typeof fetchSource>>;
  try {
    fetched = await fetchSource({ kind: 'secretsmanager', secretId });
  } catch (err) {
    if (err instanceof SourceError && err.code === 'ResourceNotFoundException') return undefined;
    throw err;
  }
  if (isUnchanged(fetched)) throw new Error('unexpected unchanged answer'); // no known version was given
  return { version: fetched.version, bytes: fetched.bytes };
}

/**
 * Writes `text` as the new AWSCURRENT version (`create`: as the first version of a new secret);
 * with `force`, labels it MTLS_GATEWAY_FORCE too.
 */
export async function writeSecret(
  secretId: string,
  text: string,
  opts: { force: boolean; create: boolean },
): Promise<string> {
  const force = opts.force;
  const client = new SecretsManagerClient({ maxAttempts: 2 });
  try {
    const out = opts.create
      ? await client.send(new CreateSecretCommand({ Name: secretId, SecretString: text }))
      : await client.send(new PutSecretValueCommand({ SecretId: secretId, SecretString: text }));
    const version = out.VersionId;
    if (!version) throw new Error('PutSecretValue returned no VersionId');
    if (force) await moveSecretStage(secretId, FORCE_STAGE_LABEL, version);
    return version;
  } finally {
    client.destroy();
  }
}
