// How `cutover check` (and `cutover run`, when a check stops it) shows results: one line each.
import type { CheckResult } from '../core/check.ts';

const MARK = { pass: '✔', warn: '!', fail: '✖' } as const;

export function printChecks(results: CheckResult[]): void {
  const width = Math.max(...results.map((r) => r.name.length));
  for (const r of results) console.log(`${MARK[r.status]} ${r.name.padEnd(width)}  ${r.detail}`);
}
