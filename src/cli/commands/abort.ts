// `cutover abort`: stops the running cutover wherever its engine runs (this machine's `cutover run`,
// or the install's API in the cluster) — through the status ConfigMap, which every engine watches.
// The engine stops the running step at its next safe point (the step cleans up: the egress hold
// goes), records who aborted, and releases the Lease; nothing resumes an aborted run on its own.
import { setTimeout as sleep } from 'node:timers/promises';
import { connectCluster, cutoverRunning, requestAbort, statusStore } from '../../composition.ts';
import { CutoverError } from '../../core/errors.ts';
import { announceTarget, confirm } from '../confirm.ts';
import { installValues } from './run.ts';

/** How long abort waits for the engine to stop (its step's cleanup included). */
const WAIT_MS = 180_000;

export async function abortCommand(options: {
  values?: string | undefined;
  kubeconfig?: string | undefined;
  context?: string | undefined;
  namespace: string;
  yes: boolean;
}): Promise<void> {
  const cluster = connectCluster(options.kubeconfig, options.context);
  const values = await installValues(cluster, options.values, options.namespace);
  announceTarget('cutover abort', cluster, options.namespace);
  if (!(await cutoverRunning(cluster, options.namespace))) {
    console.log('no cutover is running: nothing to abort');
    return;
  }
  await confirm('Abort the running cutover?', options.yes);
  const by = (await cluster.whoAmI()) || 'unknown';
  const holder = await requestAbort(values, cluster, options.namespace, by);
  if (!holder) {
    console.log('the cutover finished before the abort was requested');
    return;
  }
  console.log(`abort requested from ${holder}; waiting for it to stop at a safe point…`);
  for (const until = Date.now() + WAIT_MS; Date.now() < until; await sleep(1000)) {
    if (await cutoverRunning(cluster, options.namespace)) continue;
    const status = (await statusStore(values, cluster, options.namespace).read()) ?? {};
    console.log(
      status.abortedBy
        ? `aborted by ${status.abortedBy} at ${status.abortedAt}: stopped at ${status.failedStep || 'a step boundary'}; the Lease is free`
        : `the run ended (${status.cutoverComplete === 'true' ? 'complete' : `failed at ${status.failedStep || 'unknown'}`}) before it saw the abort`,
    );
    return;
  }
  throw new CutoverError('abort-timeout', `the cutover did not stop within ${WAIT_MS / 1000} s of the abort request`);
}
