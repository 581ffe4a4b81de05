/** One problem (or note) a report found, with a stable code for scripts and tests. */
export type Severity = 'error' | 'warning' | 'info';

export interface Finding {
  readonly severity: Severity;
  /** Stable, snake_case: `expired`, `not_ca`, `weak_key`, `client_refused`, … */
  readonly code: string;
  readonly message: string;
}

export function count(findings: readonly Finding[], severity: Severity): number {
  return findings.filter((f) => f.severity === severity).length;
}
