/**
 * A local server speaking SSM Parameter Store's wire protocol (AWS JSON 1.1: `POST /`,
 * `X-Amz-Target: AmazonSSM.<Operation>`, JSON bodies, `__type` error bodies), so the real AWS SDK
 * can be pointed at it with AWS_ENDPOINT_URL_SSM. Signatures are not checked.
 *
 * Operations: GetParameter (SecureString values are returned as stored only WithDecryption, as
 * SSM does; without it the test sees a placeholder ciphertext). Calls are recorded.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

const REGION = 'us-east-1';
const ACCOUNT = '123456789012';

interface Parameter {
  readonly type: 'String' | 'SecureString';
  readonly value: string;
  readonly version: number;
  readonly modified: number;
}

export class SsmServer {
  private readonly parameters = new Map<string, Parameter>();
  /** Every call: operation and request body. */
  readonly calls: { operation: string; body: Record<string, unknown> }[] = [];

  private constructor(
    private readonly server: Server,
    readonly url: string,
  ) {}

  static async start(): Promise<SsmServer> {
    let self: SsmServer | undefined;
    const server = createServer((req, res) => self?.handle(req, res));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    self = new SsmServer(server, `http://127.0.0.1:${port}`);
    return self;
  }

  /** Environment for the SDK: this endpoint, a region, dummy static credentials. */
  env(): Record<string, string> {
    return {
      AWS_ENDPOINT_URL_SSM: this.url,
      AWS_REGION: REGION,
      AWS_ACCESS_KEY_ID: 'AKIDTEST',
      AWS_SECRET_ACCESS_KEY: 'test-secret',
    };
  }

  /** PutParameter with Overwrite: a new version. */
  put(name: string, value: string, type: Parameter['type'] = 'SecureString'): number {
    const version = (this.parameters.get(name)?.version ?? 0) + 1;
    this.parameters.set(name, { type, value, version, modified: Date.now() });
    return version;
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const target = String(req.headers['x-amz-target'] ?? '');
      const operation = target.replace(/^AmazonSSM\./, '');
      let body: Record<string, unknown>;
      try {
        body = JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}') as Record<string, unknown>;
      } catch {
        return this.error(res, 400, 'SerializationException', 'body is not JSON');
      }
      this.calls.push({ operation, body });
      if (operation !== 'GetParameter') return this.error(res, 400, 'UnknownOperationException', target);
      const name = String(body.Name ?? '');
      const p = this.parameters.get(name);
      if (!p) return this.error(res, 400, 'ParameterNotFound', `Parameter ${name} not found.`);
      const decrypt = body.WithDecryption === true;
      const arnName = name.startsWith('/') ? name : `/${name}`;
      res.writeHead(200, { 'content-type': 'application/x-amz-json-1.1' });
      res.end(
        JSON.stringify({
          Parameter: {
            Name: name,
            Type: p.type,
            Value: p.type === 'SecureString' && !decrypt ? 'AQICAHh-ciphertext' : p.value,
            Version: p.version,
            LastModifiedDate: p.modified / 1000,
            ARN: `arn:aws:ssm:${REGION}:${ACCOUNT}:parameter${arnName}`,
            DataType: 'text',
          },
        }),
      );
    });
  }

  private error(res: ServerResponse, status: number, type: string, message: string): void {
    res.writeHead(status, { 'content-type': 'application/x-amz-json-1.1' });
    res.end(JSON.stringify({ __type: type, message }));
  }

  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}
