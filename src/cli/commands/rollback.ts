// `cutover rollback` and `cutover journal`: the journal of every change the cutover made, and the
// way back to the tethered state from it (steps/rollback.ts, ADR 0019).
import { hostname } from 'node:os';
import { connectCluster, journalEntries, rollbackCutover, rollbackPreview } from '../../composition.ts';
import { describeObject, describePath } from '../../core/journal.ts';
import { announceTarget, confirm } from '../confirm.ts';
import { printDocument } from '../output.ts';
import { createLog, type LogFlags } from '../log.ts';
import { installTarget, installValues, stopOnSignals } from './run.ts';

interface Options {
  values?: string | undefined;
  kubeconfig?: string | undefined;
  context?: string | undefined;
  namespace: string;
}

const brief = (value: unknown): string => (value === undefined ? '(absent)' : JSON.stringify(value).slice(0, 60));

export async function journalCommand(options: Options & { output: string }): Promise<void> {
  const cluster = connectCluster(options.kubeconfig, options.context);
  const values = await installValues(cluster, options.values, options.namespace);
  const entries = await journalEntries(values, cluster, options.namespace);
  if (printDocument(options.output, entries)) return;
  if (!entries.length) {
    console.log('the journal is empty: the cutover has changed nothing (or a rollback undid it)');
    return;
  }
  for (const e of entries) {
    const what =
      e.op === 'set'
        ? `${describePath(e.path)}: ${brief(e.before)} → ${brief(e.after)}`
        : e.op === 'registry-auth'
          ? `added credentials for ${e.host}`
          : e.op === 'strip-auth'
            ? `took out the upstream credentials for ${e.host}`
            : e.op === 'entries'
              ? `entries in ${describePath(e.path)}`
              : e.op === 'nodes'
                ? 'nodes told to pull through the local Harbor'
                : 'created';
    console.log(`${e.at}  ${e.step.padEnd(26)} ${e.op.padEnd(13)} ${describeObject(e.object)}  ${what}`);
  }
}

export async function rollbackCommand(
  options: Options & { yes: boolean; purge: boolean; log?: LogFlags },
): Promise<void> {
  const { values, cluster } = await installTarget(options);
  announceTarget('cutover rollback', cluster, options.namespace);
  const changes = await rollbackPreview(values, cluster, options.namespace, options.purge);
  console.log(`rollback restores the tethered state: ${changes.length} change(s)`);
  for (const c of changes) console.log(`  ${c.action.padEnd(7)} ${c.target}${c.detail ? ` — ${c.detail}` : ''}`);
  await confirm('Roll the cutover back?', options.yes);
  const by = await cluster.whoAmI();
  const result = await rollbackCutover(
    {
      values,
      cluster,
      namespace: options.namespace,
      holder: `cutover-rollback-${process.pid}@${hostname()}`,
      log: createLog(options.log ?? {}, 'rollback'),
      stop: stopOnSignals('cutover rollback'),
    },
    by || 'unknown',
    { purge: options.purge },
  );
  console.log(`rolled back: ${result.changes.length} change(s) undone; the Sovereign is tethered again`);
}
