// `cutover check`: is this cluster ready for a cutover? One line per check (or JSON); exit 1 when a
// blocking check fails. `cutover run` runs the quick blocking ones before it changes anything.
import { runChecks } from '../../composition.ts';
import { blockingFailures } from '../../core/check.ts';
import { printChecks } from '../print-checks.ts';
import { CutoverError } from '../../core/errors.ts';
import { announceTarget } from '../confirm.ts';
import { installTarget } from './run.ts';
import { printDocument } from '../output.ts';

export async function checkCommand(options: {
  values?: string | undefined;
  kubeconfig?: string | undefined;
  context?: string | undefined;
  namespace: string;
  output: string;
}): Promise<void> {
  const { values, cluster } = await installTarget(options);
  announceTarget('cutover check', cluster, options.namespace);
  const results = await runChecks(values, cluster, options.namespace);
  const failed = blockingFailures(results);
  if (!printDocument(options.output, { ok: failed.length === 0, checks: results })) printChecks(results);
  if (failed.length)
    throw new CutoverError(
      'check-failed',
      `${failed.length} blocking check(s) failed: ${failed.map((r) => r.name).join(', ')}`,
    );
}
