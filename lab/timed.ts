// The progress line of each stage of `lab up` and `restore-upstream`: what, its outcome, how long it took.
export type Log = (line: string) => void;

export async function timed(log: Log, what: string, work: () => Promise<string | void>): Promise<void> {
  const started = performance.now();
  const detail = await work();
  log(`  ${what}: ${detail ?? 'ok'} (${((performance.now() - started) / 1000).toFixed(1)} s)`);
}
