// Workloads (apps/v1) as the steps read and roll them: the node agent's DaemonSet, the configured
// Deployment and its rollout, and which workloads anywhere are short of ready replicas.
import { PatchStrategy, setHeaderOptions, type V1DaemonSet, type V1Deployment } from '@kubernetes/client-node';
import { doubling, pollUntil } from '../../core/poll.ts';
import { kubeError, type KubeCluster } from './cluster.ts';

const strategicMerge = setHeaderOptions('Content-Type', PatchStrategy.StrategicMergePatch);

export async function readDaemonSet(cluster: KubeCluster, namespace: string, name: string): Promise<V1DaemonSet> {
  try {
    return await cluster.apps.readNamespacedDaemonSet({ name, namespace });
  } catch (error) {
    throw kubeError('GET', `daemonsets/${namespace}/${name}`, error);
  }
}

export async function readDeployment(cluster: KubeCluster, namespace: string, name: string): Promise<V1Deployment> {
  try {
    return await cluster.apps.readNamespacedDeployment({ name, namespace });
  } catch (error) {
    throw kubeError('GET', `deployments/${namespace}/${name}`, error);
  }
}

/** A strategic merge patch: lists keyed by name (containers, env) merge instead of being replaced. */
export async function patchDeployment(
  cluster: KubeCluster,
  namespace: string,
  name: string,
  body: object,
): Promise<V1Deployment> {
  try {
    return await cluster.apps.patchNamespacedDeployment({ name, namespace, body }, strategicMerge);
  } catch (error) {
    throw kubeError('PATCH', `deployments/${namespace}/${name}`, error);
  }
}

/** The controller saw the latest spec and every wanted replica is updated and available. */
function rolledOut(d: V1Deployment): boolean {
  const want = d.spec?.replicas ?? 1;
  const s = d.status;
  return (
    (s?.observedGeneration ?? 0) >= (d.metadata?.generation ?? 0) &&
    (s?.updatedReplicas ?? 0) === want &&
    (s?.availableReplicas ?? 0) === want &&
    (s?.replicas ?? 0) === want
  );
}

/** Polls (backing off 0.5 → 5 s) until the Deployment has rolled out; the error shows its last replica counts. */
export function waitRollout(
  cluster: KubeCluster,
  namespace: string,
  name: string,
  signal: AbortSignal,
): Promise<V1Deployment> {
  return pollUntil(() => readDeployment(cluster, namespace, name), rolledOut, {
    signal,
    interval: doubling(500, 5000),
    code: 'rollout-stuck',
    message: (d) =>
      `Deployment ${d.metadata?.namespace}/${d.metadata?.name} did not finish rolling out (${d.status?.updatedReplicas ?? 0}/${d.spec?.replicas ?? 1} updated, ${d.status?.availableReplicas ?? 0} available)`,
  });
}

/** Deployments, DaemonSets and StatefulSets in every namespace that are short of ready replicas, as `Kind ns/name`. */
export async function unreadyWorkloads(cluster: KubeCluster): Promise<string[]> {
  const bad: string[] = [];
  const list = async <T>(plural: string, call: () => Promise<{ items: T[] }>): Promise<T[]> => {
    try {
      return (await call()).items;
    } catch (error) {
      throw kubeError('GET', plural, error);
    }
  };
  for (const d of await list('deployments', () => cluster.apps.listDeploymentForAllNamespaces())) {
    if ((d.status?.availableReplicas ?? 0) < (d.spec?.replicas ?? 1))
      bad.push(`Deployment ${d.metadata?.namespace}/${d.metadata?.name}`);
  }
  for (const d of await list('daemonsets', () => cluster.apps.listDaemonSetForAllNamespaces())) {
    if ((d.status?.numberReady ?? 0) < (d.status?.desiredNumberScheduled ?? 0))
      bad.push(`DaemonSet ${d.metadata?.namespace}/${d.metadata?.name}`);
  }
  for (const s of await list('statefulsets', () => cluster.apps.listStatefulSetForAllNamespaces())) {
    if ((s.status?.readyReplicas ?? 0) < (s.spec?.replicas ?? 1))
      bad.push(`StatefulSet ${s.metadata?.namespace}/${s.metadata?.name}`);
  }
  return bad;
}
