// What every writing command does first: say which cluster and namespace it is about to change, and
// on a terminal ask before it does (`--yes` answers for scripts; without a terminal nobody can be asked).
import { createInterface } from 'node:readline/promises';
import { CutoverError } from '../core/errors.ts';
import type { KubeCluster } from '../adapters/kube/cluster.ts';

export function announceTarget(command: string, cluster: KubeCluster, namespace: string): void {
  console.error(
    `${command}: API server ${cluster.server || '(in-cluster)'}, context ${cluster.context || '(none)'}, install namespace ${namespace}`,
  );
}

/** Asks on a terminal unless `yes`; a "no" (or anything but y/yes) stops the command with nothing changed. */
export async function confirm(question: string, yes: boolean): Promise<void> {
  if (yes || !process.stdin.isTTY) return;
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  try {
    const answer = (await rl.question(`${question} [y/N] `)).trim().toLowerCase();
    if (answer !== 'y' && answer !== 'yes') throw new CutoverError('declined', 'not confirmed: nothing was changed');
  } finally {
    rl.close();
  }
}
