/**
 * The one failure type of every source. `code` is stable and machine-readable: the AWS error name
 * (`ResourceNotFoundException`, `AccessDeniedException`, `ThrottlingException`, …), an HTTP status
 * (`HTTP_503`), a Node errno (`ENOENT`) or one of ours (`TIMEOUT`, `TOO_LARGE`, `EMPTY_SECRET`).
 */
export class SourceError extends Error {
  override readonly name = 'SourceError';
  constructor(
    readonly source: string,
    readonly code: string,
    message: string,
  ) {
    super(`${source}: ${message}`);
  }
}

/** The largest trust object we read (a 1M-entry CRL is ~40 MB); anything bigger is refused. */
export const MAX_SOURCE_BYTES = 256 * 1024 * 1024;
