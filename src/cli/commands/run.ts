// `cutover run` and `cutover plan`: the in-process engine against a cluster.
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { buildEngine, buildStepEnv, connectCluster, runChecks } from '../../composition.ts';
import { blockingFailures } from '../../core/check.ts';
import { printChecks } from '../print-checks.ts';
import { CutoverError } from '../../core/errors.ts';

import { parseValuesWithWarnings, type Values } from '../../core/values.ts';
import { configureTrust } from '../../adapters/trust.ts';
import { withCaSecrets } from '../../adapters/kube/ca-secrets.ts';
import { kubeStatus, type KubeCluster } from '../../adapters/kube/cluster.ts';
import { VALUES_CONFIGMAP } from '../../core/contracts.ts';
import { LocalExecutor } from '../../engine/local-executor.ts';
import type { StepEnv } from '../../steps/env.ts';
import { CHAIN, stepNamed } from '../../steps/catalogue.ts';
import { announceTarget, confirm } from '../confirm.ts';
import { printDocument } from '../output.ts';
import { createLog, type LogFlags } from '../log.ts';

export interface ClusterOptions {
  values: string;
  kubeconfig?: string | undefined;
  context?: string | undefined;
  namespace: string;
}

/** Values first: nothing touches a cluster before they parse. */
export function loadValues(path: string): Values {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new CutoverError(
      'usage',
      `cannot read values file ${path}: ${error instanceof Error ? error.message : String(error)}`,
    );
  }
  return parsedWithWarnings(text, path);
}

/** The values; what the operator should hear about the file (keys of the original that mean nothing here) on stderr. */
function parsedWithWarnings(text: string, source: string): Values {
  const { values, warnings } = parseValuesWithWarnings(text, source);
  for (const warning of warnings) console.error(`cutover: warning: ${warning}`);
  return values;
}

/** Values from -f, else from the dormant install's values ConfigMap in `namespace`. */
export async function installValues(
  cluster: KubeCluster,
  path: string | undefined,
  namespace: string,
): Promise<Values> {
  if (path) return loadValues(path);
  const cm = await cluster.core
    .readNamespacedConfigMap({ name: VALUES_CONFIGMAP, namespace })
    .catch((error: unknown) => {
      if (kubeStatus(error) === 404)
        throw new CutoverError(
          'usage',
          `no -f values.yaml and no ConfigMap ${namespace}/${VALUES_CONFIGMAP} (is the cutover installed there?)`,
        );
      throw error;
    });
  return parsedWithWarnings(cm.data?.['values.yaml'] ?? '', `ConfigMap ${namespace}/${VALUES_CONFIGMAP}`);
}

/**
 * The values and the cluster, with every client of this process trusting servers as the values say
 * (their CA Secrets read first): what every command that talks to a cluster starts with.
 */
export async function valuesAndCluster(
  values: Values,
  options: { kubeconfig?: string | undefined; context?: string | undefined; namespace: string },
): Promise<{ values: Values; cluster: KubeCluster }> {
  const cluster = connectCluster(options.kubeconfig, options.context);
  return { values: await trustedValues(values, cluster, options.namespace), cluster };
}

/** The cluster, and the install's values (-f, else its values ConfigMap) trusted as they say: commands on an install. */
export async function installTarget(options: {
  values?: string | undefined;
  kubeconfig?: string | undefined;
  context?: string | undefined;
  namespace: string;
}): Promise<{ values: Values; cluster: KubeCluster }> {
  const cluster = connectCluster(options.kubeconfig, options.context);
  const values = await installValues(cluster, options.values, options.namespace);
  return { values: await trustedValues(values, cluster, options.namespace), cluster };
}

/** The values with their CA Secrets read, applied to every HTTP client of this process. */
export async function trustedValues(values: Values, cluster: KubeCluster, namespace: string): Promise<Values> {
  return trustingAsValuesSay(await withCaSecrets(values, cluster, namespace));
}

/** Applies the values' `tls` to every HTTP client of this process; a skipped verification is said on stderr. */
export function trustingAsValuesSay(values: Values): Values {
  for (const warning of configureTrust(values.tls)) console.error(`WARNING: ${warning}`);
  return values;
}

/**
 * Aborted on SIGTERM or Ctrl-C: what runs stops, cleans up (the egress hold) and records why,
 * instead of the process dying mid-step.
 */
export function stopOnSignals(command: string): AbortSignal {
  const stop = new AbortController();
  for (const name of ['SIGTERM', 'SIGINT'] as const)
    process.once(name, () => {
      console.error(`${command}: ${name} received; stopping the running step (it cleans up first)`);
      stop.abort(new CutoverError('stopped', `${command} was stopped by ${name}`));
    });
  return stop.signal;
}

export async function runCommand(
  options: ClusterOptions & { executor: string; yes: boolean; log?: LogFlags },
): Promise<void> {
  if (options.executor !== 'local' && options.executor !== 'jobs')
    throw new CutoverError('usage', `--executor must be local or jobs, not "${options.executor}"`);
  const { values, cluster } = await valuesAndCluster(loadValues(options.values), options);
  announceTarget('cutover run', cluster, options.namespace);
  // The quick blocking checks of `cutover check` first: nothing changes on a cluster that cannot take it.
  const failed = blockingFailures(await runChecks(values, cluster, options.namespace, true));
  if (failed.length) {
    printChecks(failed);
    throw new CutoverError(
      'check-failed',
      `not started: ${failed.map((r) => r.name).join(', ')} failed (cutover check)`,
    );
  }
  await confirm('Run the cutover on this cluster?', options.yes);
  const holder = `cutover-cli-${process.pid}@${hostname()}`;
  const engine = await buildEngine({
    values,
    cluster,
    namespace: options.namespace,
    executor: options.executor,
    holder,
    log: createLog(options.log ?? {}, 'engine'),
    stop: stopOnSignals('cutover run'),
  });
  const outcome = await engine.run();
  if (outcome.result === 'already-complete') console.log('the cutover is already complete: the Sovereign is sovereign');
  else if (outcome.result === 'completed') console.log('cutover complete: the Sovereign is sovereign');
  else throw new CutoverError('cutover-failed', `step ${outcome.failedStep} failed: ${outcome.error}`);
}

/** `cutover step <name>`: one step, in this process — the entrypoint of a step Job. */
export async function stepCommand(name: string, options: ClusterOptions & { log?: LogFlags }): Promise<void> {
  const step = stepNamed(name);
  if (!step) throw new CutoverError('usage', `unknown step "${name}"; steps: ${CHAIN.map((s) => s.id).join(', ')}`);
  const { values, cluster } = await valuesAndCluster(loadValues(options.values), options);
  const env = await buildStepEnv(values, cluster, options.namespace);
  const ctx = {
    values,
    env,
    log: createLog(options.log ?? {}, `step/${name}`),
    signal: AbortSignal.any([
      AbortSignal.timeout(values.stepTimeouts[step.timeoutKey] * 1000),
      stopOnSignals(`cutover step ${name}`),
    ]),
  };
  await new LocalExecutor<StepEnv>().execute(step, ctx);
  console.log(`${name}: success`);
}

export async function planCommand(options: ClusterOptions & { output: string }): Promise<void> {
  const { values, cluster } = await valuesAndCluster(loadValues(options.values), options);
  const env = await buildStepEnv(values, cluster, options.namespace);
  const signal = new AbortController().signal;
  const steps = [];
  for (const step of CHAIN)
    steps.push({ step: step.id, changes: await step.plan({ values, env, log: () => {}, signal }) });
  if (printDocument(options.output, { steps })) return;
  for (const { step, changes } of steps) {
    console.log(`${step}${changes.length ? '' : ': nothing to change'}`);
    for (const c of changes) console.log(`  ${c.action.padEnd(7)} ${c.target}${c.detail ? ` — ${c.detail}` : ''}`);
  }
}
