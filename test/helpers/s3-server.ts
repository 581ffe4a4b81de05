/**
 * A local server speaking enough of the S3 REST protocol (path-style, as the SDK addresses a custom
 * endpoint) for the real AWS SDK: GetObject (with If-None-Match → 304), HeadObject, PutObject
 * (plain or `aws-chunked` bodies, as the SDK's flexible checksums send them), GetObjectTagging and
 * PutObjectTagging, with S3's XML error bodies. Point the SDK at it with AWS_ENDPOINT_URL_S3.
 * Signatures are not checked. Every call is counted per operation.
 */
import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

interface StoredObject {
  readonly body: Buffer;
  readonly etag: string;
  tags: Record<string, string>;
}

const REGION = 'us-east-1';

function xml(res: ServerResponse, status: number, body: string): void {
  res.writeHead(status, { 'content-type': 'application/xml' });
  res.end(`<?xml version="1.0" encoding="UTF-8"?>\n${body}`);
}

function s3Error(res: ServerResponse, status: number, code: string, message: string): void {
  xml(res, status, `<Error><Code>${code}</Code><Message>${message}</Message></Error>`);
}

/** Decodes an `aws-chunked` body: `<hex size>[;chunk-signature=…]\r\n<data>\r\n` … `0\r\n` [trailers]. */
function decodeAwsChunked(raw: Buffer): Buffer {
  const parts: Buffer[] = [];
  let p = 0;
  for (;;) {
    const eol = raw.indexOf('\r\n', p);
    if (eol < 0) throw new Error('aws-chunked: no chunk header');
    const size = Number.parseInt(raw.subarray(p, eol).toString('latin1').split(';')[0]!, 16);
    if (!Number.isFinite(size)) throw new Error('aws-chunked: bad chunk size');
    if (size === 0) return Buffer.concat(parts);
    parts.push(raw.subarray(eol + 2, eol + 2 + size));
    p = eol + 2 + size + 2;
  }
}

export class S3Server {
  private readonly objects = new Map<string, StoredObject>();
  private readonly calls = new Map<string, number>();

  private constructor(
    private readonly server: Server,
    readonly url: string,
  ) {}

  static async start(): Promise<S3Server> {
    let self: S3Server | undefined;
    const server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => self?.handle(req, res, Buffer.concat(chunks)));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    self = new S3Server(server, `http://127.0.0.1:${port}`);
    return self;
  }

  env(): Record<string, string> {
    return {
      AWS_ENDPOINT_URL_S3: this.url,
      AWS_REGION: REGION,
      AWS_ACCESS_KEY_ID: 'AKIDTEST',
      AWS_SECRET_ACCESS_KEY: 'test-secret',
    };
  }

  put(bucket: string, key: string, body: Buffer | string): string {
    const bytes = Buffer.from(body);
    const etag = `"${createHash('md5').update(bytes).digest('hex')}"`;
    this.objects.set(`${bucket}/${key}`, { body: bytes, etag, tags: {} });
    return etag;
  }

  get(bucket: string, key: string): Buffer | undefined {
    return this.objects.get(`${bucket}/${key}`)?.body;
  }

  tags(bucket: string, key: string): Record<string, string> | undefined {
    return this.objects.get(`${bucket}/${key}`)?.tags;
  }

  count(operation: string): number {
    return this.calls.get(operation) ?? 0;
  }

  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  private called(operation: string): void {
    this.calls.set(operation, (this.calls.get(operation) ?? 0) + 1);
  }

  private handle(req: IncomingMessage, res: ServerResponse, raw: Buffer): void {
    const url = new URL(req.url ?? '/', this.url);
    const [, bucket, ...rest] = url.pathname.split('/');
    const key = rest.map(decodeURIComponent).join('/');
    if (!bucket || !key) {
      s3Error(res, 400, 'InvalidRequest', 'path-style /bucket/key expected');
      return;
    }
    const id = `${bucket}/${key}`;
    const object = this.objects.get(id);
    const tagging = url.searchParams.has('tagging');
    if (req.method === 'PUT' && tagging) {
      this.called('PutObjectTagging');
      if (!object) {
        s3Error(res, 404, 'NoSuchKey', 'The specified key does not exist.');
        return;
      }
      const body = raw.toString('utf8');
      object.tags = Object.fromEntries(
        [...body.matchAll(/<Tag>\s*<Key>([^<]*)<\/Key>\s*<Value>([^<]*)<\/Value>\s*<\/Tag>/g)].map((m) => [
          m[1]!,
          m[2]!,
        ]),
      );
      res.writeHead(200);
      res.end();
      return;
    }
    if (req.method === 'GET' && tagging) {
      this.called('GetObjectTagging');
      if (!object) {
        s3Error(res, 404, 'NoSuchKey', 'The specified key does not exist.');
        return;
      }
      const tags = Object.entries(object.tags)
        .map(([k, v]) => `<Tag><Key>${k}</Key><Value>${v}</Value></Tag>`)
        .join('');
      xml(res, 200, `<Tagging><TagSet>${tags}</TagSet></Tagging>`);
      return;
    }
    if (req.method === 'PUT') {
      this.called('PutObject');
      const encoding = String(req.headers['content-encoding'] ?? '');
      const chunked =
        encoding.includes('aws-chunked') ||
        String(req.headers['x-amz-content-sha256']).startsWith('STREAMING-');
      const etag = this.put(bucket, key, chunked ? decodeAwsChunked(raw) : raw);
      res.writeHead(200, { etag });
      res.end();
      return;
    }
    if (req.method === 'GET' || req.method === 'HEAD') {
      this.called(req.method === 'GET' ? 'GetObject' : 'HeadObject');
      if (!object) {
        if (req.method === 'HEAD') {
          res.writeHead(404);
          res.end();
          return;
        }
        s3Error(res, 404, 'NoSuchKey', 'The specified key does not exist.');
        return;
      }
      if (req.headers['if-none-match'] === object.etag) {
        res.writeHead(304, { etag: object.etag });
        res.end();
        return;
      }
      res.writeHead(200, { etag: object.etag, 'content-length': object.body.length });
      res.end(req.method === 'GET' ? object.body : undefined);
      return;
    }
    s3Error(res, 405, 'MethodNotAllowed', `${req.method} is not supported here`);
  }
}
