// `cutover probe` run where the cutover's own probes run: in a pod on the lab network (its own
// network namespace, judged by kube-network-policies), not in the test process on the host.
import type { V1Pod } from '@kubernetes/client-node';
import { KubeCluster } from '../../src/adapters/kube/cluster.ts';
import { containerState, createPod, deletePod, waitPod } from '../../src/adapters/kube/pods.ts';
import { parseValues } from '../../src/core/values.ts';
import { readFileSync } from 'node:fs';
import { lab, uniqueName } from './lab.ts';

export interface ProbeResult {
  exitCode: number;
  /** The container's log tail (FallbackToLogsOnError) when it failed. */
  message: string;
  seconds: number;
  pod: V1Pod;
}

/** Runs `cutover probe <args>` in a pod of `namespace` and resolves how it ended; the pod is removed. */
export async function probeFromPod(namespace: string, args: string[]): Promise<ProbeResult> {
  const e = lab();
  const cluster = KubeCluster.connect(e.kube.kubeconfig);
  const image = parseValues(readFileSync(e.valuesFile, 'utf8')).images.cutover;
  const name = uniqueName('probe');
  const started = performance.now();
  await createPod(cluster, namespace, {
    name,
    labels: { 'sovereign.lab/test': 'probe' },
    spec: {
      restartPolicy: 'Never',
      containers: [
        { name: 'probe', image, args: ['probe', ...args], terminationMessagePolicy: 'FallbackToLogsOnError' },
      ],
    },
  });
  try {
    const pod = await waitPod(cluster, namespace, name, {
      signal: AbortSignal.timeout(120_000),
      done: (state) => Boolean(state?.terminated),
      code: 'probe-timeout',
      message: (last) => `probe pod ${name} did not finish: ${JSON.stringify(last.status?.containerStatuses)}`,
    });
    const terminated = containerState(pod)?.terminated;
    return {
      exitCode: terminated?.exitCode ?? -1,
      message: terminated?.message ?? '',
      seconds: (performance.now() - started) / 1000,
      pod,
    };
  } finally {
    await deletePod(cluster, namespace, name);
  }
}
