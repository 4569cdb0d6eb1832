// Step discovery by the seed's label contract: ConfigMaps labelled part-of=self-sovereign-cutover,
// component=cutover-step, ordered by `bp.openova.io/cutover-order`, run as `cutover-mode` job
// (data.podSpec) or daemonset-wait (`bp.openova.io/cutover-daemonset`). Anything malformed fails
// discovery loudly, naming the ConfigMap and what is wrong with it. Only the install namespace is
// searched, and a podSpec is never run verbatim: it is rebuilt under the step pod policy (step-pod.ts).
import type { V1PodSpec } from '@kubernetes/client-node';
import { parse as parseYaml } from 'yaml';
import type { KubeCluster } from '../adapters/kube/cluster.ts';
import { STEP_LABELS, STEP_SELECTOR } from '../core/contracts.ts';
import { CutoverError } from '../core/errors.ts';
import { ownedStepPod, type StepPodPolicy } from '../core/step-pod.ts';

export interface DiscoveredStep {
  stepName: string;
  configMap: string;
  order: number;
  mode: 'job' | 'daemonset-wait';
  podSpec?: V1PodSpec;
  daemonSet?: string;
}

/** `policy`: what a job step's pod may be (ownedStepPod): the install's image, the runner, no host access. */
export async function discoverSteps(
  cluster: KubeCluster,
  namespace: string,
  policy: StepPodPolicy,
): Promise<DiscoveredStep[]> {
  const items = await cluster.configMaps(namespace, STEP_SELECTOR);
  if (!items.length)
    throw new CutoverError('no-steps-found', `no step ConfigMaps (${STEP_SELECTOR}) in namespace ${namespace}`);
  const steps = items.map((cm) => {
    const name = cm.metadata?.name ?? '?';
    const labels = cm.metadata?.labels ?? {};
    const bad = (why: string) =>
      new CutoverError('invalid-step-configmap', `step ConfigMap ${namespace}/${name}: ${why}`);
    const orderText = labels[STEP_LABELS.order];
    if (orderText === undefined) throw bad(`missing required label ${STEP_LABELS.order}`);
    if (!/^\d+$/.test(orderText)) throw bad(`label ${STEP_LABELS.order} "${orderText}" is not an integer`);
    const mode = labels[STEP_LABELS.mode];
    if (mode !== 'job' && mode !== 'daemonset-wait')
      throw bad(`label ${STEP_LABELS.mode} must be job or daemonset-wait, not "${mode ?? ''}"`);
    const stepName = cm.data?.stepName?.trim();
    if (!stepName) throw bad('data.stepName is missing');
    const step: DiscoveredStep = { stepName, configMap: name, order: Number(orderText), mode };
    if (mode === 'job') {
      let podSpec: unknown;
      try {
        podSpec = parseYaml(cm.data?.podSpec ?? '');
      } catch (error) {
        throw bad(`data.podSpec is not valid YAML: ${error instanceof Error ? error.message : String(error)}`);
      }
      try {
        step.podSpec = ownedStepPod(podSpec, policy);
      } catch (error) {
        throw bad(`data.podSpec ${error instanceof Error ? error.message : String(error)}`);
      }
    } else {
      const ds = labels[STEP_LABELS.daemonSet];
      if (!ds) throw bad(`daemonset-wait mode needs label ${STEP_LABELS.daemonSet}`);
      step.daemonSet = ds;
    }
    return step;
  });
  steps.sort((a, b) => a.order - b.order);
  for (let i = 1; i < steps.length; i++) {
    if (steps[i]?.order === steps[i - 1]?.order)
      throw new CutoverError(
        'invalid-step-configmap',
        `step ConfigMaps ${steps[i - 1]?.configMap} and ${steps[i]?.configMap} share order ${steps[i]?.order}`,
      );
  }
  return steps;
}
