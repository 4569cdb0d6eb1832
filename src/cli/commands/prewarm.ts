// `cutover prewarm -f values.yaml`: step 03 on its own — every artifact in use copied into the
// local Harbor by digest and verified — with a progress bar when stderr is a terminal (not with --no-progress).
import { buildStepEnv } from '../../composition.ts';
import type { PrewarmProgress } from '../../prewarm/prewarm.ts';
import { prewarmAll, progressText } from '../../steps/harbor-prewarm.ts';
import { loadValues, valuesAndCluster, type ClusterOptions } from './run.ts';
import { announceTarget } from '../confirm.ts';

function bar(p: PrewarmProgress): string {
  const width = 28;
  const filled = p.artifactsTotal ? Math.round((width * p.artifactsDone) / p.artifactsTotal) : width;
  return `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${progressText(p)}`;
}

export async function prewarmCommand(options: ClusterOptions & { progress: boolean }): Promise<void> {
  const { values, cluster } = await valuesAndCluster(loadValues(options.values), options);
  announceTarget('cutover prewarm', cluster, options.namespace);
  const env = await buildStepEnv(values, cluster, options.namespace);
  // A bar only on a terminal, and only when asked for (--no-progress: one line per event, as in a log).
  const tty = process.stderr.isTTY && options.progress;
  let last = 0;
  const onProgress = (p: PrewarmProgress) => {
    if (!tty || Date.now() - last < 100) return;
    last = Date.now();
    process.stderr.write(`\r${bar(p)}\x1b[K`);
  };
  const log = (line: string) => (tty ? process.stderr.write(`\r\x1b[K${line}\n`) : console.log(line));
  const report = await prewarmAll(
    { values, env, log, signal: AbortSignal.timeout(values.stepTimeouts.harborPrewarmSeconds * 1000) },
    onProgress,
  );
  if (tty) process.stderr.write(`\r${bar(report)}\x1b[K\n`);
  console.log(`prewarm complete: ${report.artifacts.length} artifacts verified by digest in the local Harbor`);
}
