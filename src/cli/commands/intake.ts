// `cutover intake approve`: in `intake.mode: request` (ADR 0018) an operator approves the revision the
// pin radar holds, from a terminal, as whoever their kubeconfig says they are (the apiserver's
// SelfSubjectReview names them in the record). It opens the delivery window in the status ConfigMap;
// `cutover serve` copies the revision's pins and lets Flux onto it at its next look.
import { approveIntake, connectCluster, decisionRecorder, statusStore } from '../../composition.ts';
import { CutoverError } from '../../core/errors.ts';
import { windowSummary } from '../../core/intake-window.ts';
import { installValues } from './run.ts';
import { announceTarget } from '../confirm.ts';

export async function intakeCommand(
  action: string | undefined,
  options: {
    values?: string | undefined;
    kubeconfig?: string | undefined;
    context?: string | undefined;
    namespace: string;
    revision?: string | undefined;
  },
): Promise<void> {
  if (action !== 'approve')
    throw new CutoverError('usage', `cutover intake takes one action: approve (not "${action ?? ''}")`);
  if (options.revision !== undefined && !/^[0-9a-f]{40}$/.test(options.revision))
    throw new CutoverError('usage', `--revision must be a 40-hex commit id, not "${options.revision}"`);
  const cluster = connectCluster(options.kubeconfig, options.context);
  const values = await installValues(cluster, options.values, options.namespace);
  announceTarget('cutover intake approve', cluster, options.namespace);
  const by = await cluster.whoAmI();
  const log = (line: string) => console.error(line);
  const record = decisionRecorder(values, cluster, options.namespace, `cutover-cli/${by}`, log);
  const window = await approveIntake(
    statusStore(values, cluster, options.namespace),
    values,
    by,
    options.revision,
    record,
  );
  console.log(window ? windowSummary(window) : 'a delivery window is already open for the pending revision');
}
