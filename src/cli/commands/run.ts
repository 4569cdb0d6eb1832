// `cutover run` and `cutover plan`: the in-process engine against a cluster.
import { readFileSync } from 'node:fs';
import { KubeCluster } from '../../adapters/kube/cluster.ts';
import { buildStepEnv, statusStore } from '../../composition.ts';
import { CutoverError } from '../../core/errors.ts';
import { STEP_IDS } from '../../core/status.ts';
import { parseValues, type Values } from '../../core/values.ts';
import { Engine } from '../../engine/engine.ts';
import { LocalExecutor } from '../../engine/local-executor.ts';
import { SingleFlight } from '../../engine/single-flight.ts';
import { CHAIN } from '../../steps/chain.ts';

export interface ClusterOptions {
  values: string;
  kubeconfig?: string | undefined;
  namespace: string;
}

/** Values first: nothing touches a cluster before they parse. */
export function loadValues(path: string): Values {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new CutoverError('usage', `cannot read values file ${path}: ${error instanceof Error ? error.message : String(error)}`);
  }
  return parseValues(text, path);
}

export async function runCommand(options: ClusterOptions & { executor: string }): Promise<void> {
  if (options.executor !== 'local') throw new CutoverError('usage', `--executor ${options.executor} is not available in this build (local only)`);
  const values = loadValues(options.values);
  const cluster = KubeCluster.connect(options.kubeconfig);
  const env = await buildStepEnv(values, cluster, options.namespace);
  const lease = new SingleFlight(cluster, options.namespace, `cutover-cli-${process.pid}@${(await import('node:os')).hostname()}`);
  const engine = new Engine({
    values,
    env,
    steps: CHAIN,
    requiredSteps: STEP_IDS,
    store: statusStore(values, cluster, options.namespace),
    lease,
    executor: new LocalExecutor(),
    log: (line) => console.log(line),
  });
  const outcome = await engine.run();
  if (outcome.result === 'already-complete') console.log('the cutover is already complete: the Sovereign is sovereign');
  else if (outcome.result === 'completed') console.log('cutover complete: the Sovereign is sovereign');
  else throw new CutoverError('cutover-failed', `step ${outcome.failedStep} failed: ${outcome.error}`);
}

export async function planCommand(options: ClusterOptions): Promise<void> {
  const values = loadValues(options.values);
  const cluster = KubeCluster.connect(options.kubeconfig);
  const env = await buildStepEnv(values, cluster, options.namespace);
  const signal = new AbortController().signal;
  for (const step of CHAIN) {
    const changes = await step.plan({ values, env, log: () => {}, signal });
    console.log(`${step.id}${changes.length ? '' : ': nothing to change'}`);
    for (const c of changes) console.log(`  ${c.action.padEnd(7)} ${c.target}${c.detail ? ` — ${c.detail}` : ''}`);
  }
  const missing = STEP_IDS.filter((id) => !CHAIN.some((s) => s.id === id));
  if (missing.length) console.log(`(not in this build: ${missing.join(', ')})`);
}
