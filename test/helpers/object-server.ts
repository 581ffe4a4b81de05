/**
 * A stand-in for an object store or an https CRL endpoint: answers GET with the current body and
 * an ETag, honours If-None-Match with a 304, and counts both. The real S3 SDK reaches it over plain
 * HTTP (AWS_ENDPOINT_URL_S3, path style); wrapped in an https server it is an https CRL source.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';

export interface ObjectCounts {
  full: number;
  notModified: number;
}

export function etagHandler(
  body: () => Buffer,
  counts: ObjectCounts,
  /** Called after each answer (tests await a number of polls with it). */
  onAnswer: () => void = () => undefined,
): (req: IncomingMessage, res: ServerResponse) => void {
  return (req, res) => {
    const b = body();
    const etag = `"${b.length}-${b.subarray(-4).toString('hex')}"`;
    if (req.headers['if-none-match'] === etag) {
      counts.notModified++;
      res.writeHead(304, { etag });
      res.end();
    } else {
      counts.full++;
      res.writeHead(200, { etag, 'content-length': b.length });
      res.end(b);
    }
    onAnswer();
  };
}
