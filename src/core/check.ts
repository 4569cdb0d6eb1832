// One result of `cutover check` (steps/preflight.ts): what was checked, whether it held, and
// whether a failure stops a run.
export interface CheckResult {
  name: string;
  status: 'pass' | 'warn' | 'fail';
  /** A failure here stops `cutover run` (and makes `cutover check` exit 1). */
  blocking: boolean;
  detail: string;
}

/** The results that stop a run. */
export const blockingFailures = (results: CheckResult[]): CheckResult[] =>
  results.filter((r) => r.status === 'fail' && r.blocking);
