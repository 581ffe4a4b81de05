/**
 * A local server speaking the Secrets Manager wire protocol (AWS JSON 1.1: `POST /`,
 * `X-Amz-Target: secretsmanager.<Operation>`, JSON bodies, `__type` error bodies), so the real AWS
 * SDK can be pointed at it with AWS_ENDPOINT_URL_SECRETS_MANAGER. Signatures are not checked.
 *
 * Operations: CreateSecret, PutSecretValue, GetSecretValue, DescribeSecret, ListSecretVersionIds,
 * UpdateSecretVersionStage. Faults can be injected (500, throttling, access denied, hang) and every
 * call is counted per operation.
 */
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export type Fault = 'internal' | 'throttling' | 'access_denied' | 'not_found' | 'hang';

interface Version {
  readonly id: string;
  readonly string?: string;
  readonly binary?: Buffer;
  readonly created: number;
  stages: string[];
}

interface Secret {
  readonly name: string;
  readonly arn: string;
  description: string;
  readonly versions: Version[];
}

class AwsError extends Error {
  constructor(
    readonly type: string,
    message: string,
    readonly status = 400,
  ) {
    super(message);
  }
}

const REGION = 'us-east-1';
const ACCOUNT = '123456789012';

export class SecretsManagerServer {
  private readonly secrets = new Map<string, Secret>();
  private readonly calls = new Map<string, number>();
  private fault: { kind: Fault; remaining: number; operation?: string | undefined } | undefined;
  private readonly hung = new Set<ServerResponse>();

  private constructor(
    private readonly server: Server,
    readonly url: string,
  ) {}

  static async start(): Promise<SecretsManagerServer> {
    let self: SecretsManagerServer | undefined;
    const server = createServer((req, res) => self?.handle(req, res));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    self = new SecretsManagerServer(server, `http://127.0.0.1:${port}`);
    return self;
  }

  /** Environment for the SDK: this endpoint, a region, dummy static credentials. */
  env(): Record<string, string> {
    return {
      AWS_ENDPOINT_URL_SECRETS_MANAGER: this.url,
      AWS_REGION: REGION,
      AWS_ACCESS_KEY_ID: 'AKIDTEST',
      AWS_SECRET_ACCESS_KEY: 'test-secret',
    };
  }

  /** Stores a new AWSCURRENT version (creating the secret if needed); returns its version id. */
  put(
    name: string,
    value: string | Buffer,
    opts: { stages?: readonly string[]; description?: string } = {},
  ): string {
    let secret = this.secrets.get(name);
    if (!secret) {
      secret = {
        name,
        arn: `arn:aws:secretsmanager:${REGION}:${ACCOUNT}:secret:${name}-AbCdEf`,
        description: '',
        versions: [],
      };
      this.secrets.set(name, secret);
    }
    if (opts.description !== undefined) secret.description = opts.description;
    const stages = [...(opts.stages ?? ['AWSCURRENT'])];
    if (stages.includes('AWSCURRENT')) {
      for (const v of secret.versions) {
        v.stages = v.stages.filter((s) => s !== 'AWSPREVIOUS');
        if (v.stages.includes('AWSCURRENT'))
          v.stages = [...v.stages.filter((s) => s !== 'AWSCURRENT'), 'AWSPREVIOUS'];
      }
    }
    for (const v of secret.versions)
      v.stages = v.stages.filter((s) => s === 'AWSCURRENT' || s === 'AWSPREVIOUS' || !stages.includes(s));
    const id = randomUUID();
    secret.versions.push({
      id,
      created: Date.now() / 1000,
      stages,
      ...(typeof value === 'string' ? { string: value } : { binary: value }),
    });
    return id;
  }

  /** Moves a staging label onto a version (like UpdateSecretVersionStage). */
  label(name: string, stage: string, versionId: string): void {
    const secret = this.mustGet(name);
    for (const v of secret.versions) v.stages = v.stages.filter((s) => s !== stage);
    const target = secret.versions.find((v) => v.id === versionId);
    if (!target) throw new Error(`no version ${versionId}`);
    target.stages.push(stage);
  }

  /** The SecretString (or SecretBinary as text) of the AWSCURRENT version. */
  currentValue(name: string): string | undefined {
    const v = this.secrets.get(name)?.versions.find((x) => x.stages.includes('AWSCURRENT'));
    return v?.string ?? v?.binary?.toString('latin1');
  }

  /** The staging labels of one version (as list-secret-version-ids prints them). */
  stagesOf(name: string, versionId: string): readonly string[] {
    return this.mustGet(name).versions.find((v) => v.id === versionId)?.stages ?? [];
  }

  currentVersion(name: string): string | undefined {
    return this.secrets.get(name)?.versions.find((v) => v.stages.includes('AWSCURRENT'))?.id;
  }

  /** The next `count` calls (of `operation`, or any) fail with `kind`; `clearFault()` ends it. */
  injectFault(kind: Fault, count = Number.POSITIVE_INFINITY, operation?: string): void {
    this.fault = { kind, remaining: count, operation };
  }

  clearFault(): void {
    this.fault = undefined;
    for (const res of this.hung) res.destroy();
    this.hung.clear();
  }

  callCount(operation?: string): number {
    if (operation) return this.calls.get(operation) ?? 0;
    return [...this.calls.values()].reduce((a, b) => a + b, 0);
  }

  resetCounts(): void {
    this.calls.clear();
  }

  close(): Promise<void> {
    this.clearFault();
    this.server.closeAllConnections();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  private mustGet(id: string): Secret {
    const secret = this.secrets.get(id) ?? [...this.secrets.values()].find((s) => s.arn === id);
    if (!secret)
      throw new AwsError('ResourceNotFoundException', "Secrets Manager can't find the specified secret.");
    return secret;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const target = String(req.headers['x-amz-target'] ?? '');
    const operation = target.replace(/^secretsmanager\./, '');
    this.calls.set(operation, (this.calls.get(operation) ?? 0) + 1);
    try {
      if (req.method !== 'POST' || !target.startsWith('secretsmanager.')) {
        throw new AwsError('UnknownOperationException', `unknown target ${target}`);
      }
      const fault = this.fault;
      if (fault && fault.remaining > 0 && (!fault.operation || fault.operation === operation)) {
        fault.remaining--;
        if (fault.kind === 'hang') {
          this.hung.add(res);
          return;
        }
        throw faultError(fault.kind);
      }
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}') as Record<string, unknown>;
      send(res, 200, this.operate(operation, body));
    } catch (err) {
      const e = err instanceof AwsError ? err : new AwsError('InternalServiceError', String(err), 500);
      send(res, e.status, { __type: e.type, message: e.message });
    }
  }

  private operate(operation: string, body: Record<string, unknown>): unknown {
    const value = (): string | Buffer => {
      if (typeof body.SecretString === 'string') return body.SecretString;
      if (typeof body.SecretBinary === 'string') return Buffer.from(body.SecretBinary, 'base64');
      throw new AwsError('InvalidParameterException', 'SecretString or SecretBinary is required');
    };
    switch (operation) {
      case 'CreateSecret': {
        const name = String(body.Name);
        if (this.secrets.has(name)) throw new AwsError('ResourceExistsException', `secret ${name} exists`);
        const id = this.put(name, value(), { description: String(body.Description ?? '') });
        const s = this.mustGet(name);
        return { ARN: s.arn, Name: s.name, VersionId: id };
      }
      case 'PutSecretValue': {
        const s = this.mustGet(String(body.SecretId));
        const stages = Array.isArray(body.VersionStages) ? body.VersionStages.map(String) : undefined;
        const id = this.put(s.name, value(), stages ? { stages } : {});
        return { ARN: s.arn, Name: s.name, VersionId: id, VersionStages: stages ?? ['AWSCURRENT'] };
      }
      case 'GetSecretValue': {
        const s = this.mustGet(String(body.SecretId));
        const stage = typeof body.VersionStage === 'string' ? body.VersionStage : 'AWSCURRENT';
        const v =
          typeof body.VersionId === 'string'
            ? s.versions.find((x) => x.id === body.VersionId)
            : s.versions.find((x) => x.stages.includes(stage));
        if (!v) throw new AwsError('ResourceNotFoundException', 'version not found');
        return {
          ARN: s.arn,
          Name: s.name,
          VersionId: v.id,
          VersionStages: v.stages,
          CreatedDate: v.created,
          ...(v.string !== undefined
            ? { SecretString: v.string }
            : { SecretBinary: v.binary?.toString('base64') }),
        };
      }
      case 'DescribeSecret': {
        const s = this.mustGet(String(body.SecretId));
        return {
          ARN: s.arn,
          Name: s.name,
          Description: s.description,
          VersionIdsToStages: Object.fromEntries(
            s.versions.filter((v) => v.stages.length > 0).map((v) => [v.id, v.stages]),
          ),
        };
      }
      case 'ListSecretVersionIds': {
        const s = this.mustGet(String(body.SecretId));
        return {
          ARN: s.arn,
          Name: s.name,
          Versions: s.versions.map((v) => ({
            VersionId: v.id,
            VersionStages: v.stages,
            CreatedDate: v.created,
          })),
        };
      }
      case 'UpdateSecretVersionStage': {
        const s = this.mustGet(String(body.SecretId));
        const stage = String(body.VersionStage);
        if (typeof body.MoveToVersionId === 'string') {
          // As AWS: a label attached to another version moves only when that version is named.
          const holder = s.versions.find((v) => v.stages.includes(stage) && v.id !== body.MoveToVersionId);
          if (holder && body.RemoveFromVersionId !== holder.id) {
            throw new AwsError(
              'InvalidParameterException',
              `The staging label ${stage} is currently attached to version ${holder.id}, so you must explicitly reference that version in RemoveFromVersionId.`,
            );
          }
          if (stage === 'AWSCURRENT') {
            for (const v of s.versions) {
              v.stages = v.stages.filter((x) => x !== 'AWSPREVIOUS');
              if (v.stages.includes('AWSCURRENT'))
                v.stages = [...v.stages.filter((x) => x !== 'AWSCURRENT'), 'AWSPREVIOUS'];
            }
          }
          this.label(s.name, stage, body.MoveToVersionId);
        } else if (typeof body.RemoveFromVersionId === 'string') {
          const v = s.versions.find((x) => x.id === body.RemoveFromVersionId);
          if (v) v.stages = v.stages.filter((x) => x !== stage);
        }
        return { ARN: s.arn, Name: s.name };
      }
      default:
        throw new AwsError('UnknownOperationException', `operation ${operation} is not supported`);
    }
  }
}

function faultError(kind: Exclude<Fault, 'hang'>): AwsError {
  switch (kind) {
    case 'internal':
      return new AwsError('InternalServiceError', 'injected failure', 500);
    case 'throttling':
      return new AwsError('ThrottlingException', 'Rate exceeded');
    case 'access_denied':
      return new AwsError(
        'AccessDeniedException',
        'User is not authorized to perform: secretsmanager:DescribeSecret',
      );
    case 'not_found':
      return new AwsError('ResourceNotFoundException', "Secrets Manager can't find the specified secret.");
  }
}

function send(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/x-amz-json-1.1',
    'content-length': Buffer.byteLength(text),
    'x-amzn-requestid': randomUUID(),
  });
  res.end(text);
}
