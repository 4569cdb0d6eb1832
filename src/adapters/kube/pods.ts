// Pods the steps start themselves (canaries, probes, fresh pulls): create, read, wait for their one
// container, delete. Every failure leaves as a PeerError (kubeError). Every pod created here meets
// Pod Security `restricted`, so it is admitted in the install namespace.
import type { V1ContainerState, V1Pod, V1PodSpec } from '@kubernetes/client-node';
import { restrictedPod } from '../../core/pod-security.ts';
import { pollUntil } from '../../core/poll.ts';
import { kubeError, kubeStatus, type KubeCluster } from './cluster.ts';

export async function createPod(
  cluster: KubeCluster,
  namespace: string,
  pod: { name: string; labels: Record<string, string>; spec: V1PodSpec },
): Promise<void> {
  try {
    await cluster.core.createNamespacedPod({
      namespace,
      body: { metadata: { name: pod.name, labels: pod.labels }, spec: restrictedPod(pod.spec) },
    });
  } catch (error) {
    throw kubeError('POST', `pods/${namespace}/${pod.name}`, error);
  }
}

async function readPod(cluster: KubeCluster, namespace: string, name: string): Promise<V1Pod> {
  try {
    return await cluster.core.readNamespacedPod({ name, namespace });
  } catch (error) {
    throw kubeError('GET', `pods/${namespace}/${name}`, error);
  }
}

export async function listPods(cluster: KubeCluster, namespace: string, labelSelector: string): Promise<V1Pod[]> {
  try {
    return (await cluster.core.listNamespacedPod({ namespace, labelSelector })).items;
  } catch (error) {
    throw kubeError('GET', `pods/${namespace}?labelSelector=${labelSelector}`, error);
  }
}

/** Deletes a pod at once (no grace period); one already gone is fine. */
export async function deletePod(cluster: KubeCluster, namespace: string, name: string): Promise<void> {
  try {
    await cluster.core.deleteNamespacedPod({ name, namespace, gracePeriodSeconds: 0 });
  } catch (error) {
    if (kubeStatus(error) !== 404) throw kubeError('DELETE', `pods/${namespace}/${name}`, error);
  }
}

/** Deletes every pod the selector matches, at once (no grace period). */
export async function deletePods(cluster: KubeCluster, namespace: string, labelSelector: string): Promise<void> {
  try {
    await cluster.core.deleteCollectionNamespacedPod({ namespace, labelSelector, gracePeriodSeconds: 0 });
  } catch (error) {
    throw kubeError('DELETE', `pods/${namespace}?labelSelector=${labelSelector}`, error);
  }
}

/** The state of the pod's (first) container, as the kubelet reports it. */
export function containerState(pod: V1Pod | undefined): V1ContainerState | undefined {
  return pod?.status?.containerStatuses?.[0]?.state;
}

/** The kubelet's termination message of the pod's (first) container ('' when there is none). */
export function terminationMessage(pod: V1Pod): string {
  return containerState(pod)?.terminated?.message ?? '';
}

/**
 * Polls the pod every 500 ms until `done` holds for its container's state, and returns the pod;
 * at the signal, throws `code` with `message` of the pod as last read.
 */
export function waitPod(
  cluster: KubeCluster,
  namespace: string,
  name: string,
  o: {
    signal: AbortSignal;
    done: (state: V1ContainerState | undefined) => boolean;
    code: string;
    message: (last: V1Pod) => string;
  },
): Promise<V1Pod> {
  return pollUntil(
    () => readPod(cluster, namespace, name),
    (pod) => o.done(containerState(pod)),
    { signal: o.signal, interval: 500, code: o.code, message: o.message },
  );
}
