/**
 * Turns an AWS SDK failure into a SourceError whose code is the AWS error name, so logs, /trust
 * and alerts say `AccessDeniedException` rather than a stack trace. Timeouts (our abort signal or
 * the SDK's socket timeout) become `TIMEOUT`.
 */
import { SourceError } from './source-error.js';

interface AwsLikeError {
  readonly name?: string;
  readonly message?: string;
  readonly $metadata?: { readonly httpStatusCode?: number };
}

export function awsSourceError(source: string, err: unknown, signal: AbortSignal): SourceError {
  const e = (err ?? {}) as AwsLikeError;
  const name = e.name ?? 'Error';
  if (signal.aborted || name === 'AbortError' || name === 'TimeoutError') {
    return new SourceError(source, 'TIMEOUT', 'TIMEOUT: no answer before the source timeout');
  }
  const status = e.$metadata?.httpStatusCode;
  // Unmodelled 5xx answers surface as generic names; keep the status so the cause stays visible.
  const code = name === 'Error' || name === 'UnknownError' ? (status ? `HTTP_${status}` : 'NETWORK') : name;
  const firstLine = (e.message ?? '').split('\n')[0]?.slice(0, 200) ?? '';
  return new SourceError(source, code, `${code}${firstLine && firstLine !== code ? `: ${firstLine}` : ''}`);
}
