// Jobs (batch/v1) as the jobs executor runs steps: list by label, read, create, watch one until it
// changes, and its outcome. Every failure leaves as a PeerError (kubeError).
import type { V1Job } from '@kubernetes/client-node';
import { kubeError, kubeStatus, type KubeCluster } from './cluster.ts';
import { watchOne } from './watch-one.ts';

export type JobOutcome = { done: 'Complete' } | { done: 'Failed'; reason: string; message: string };

/** Complete or Failed once the Job controller says so; undefined while it runs. */
export function jobOutcome(job: V1Job): JobOutcome | undefined {
  const c = job.status?.conditions?.find((x) => x.status === 'True' && (x.type === 'Complete' || x.type === 'Failed'));
  if (!c) return undefined;
  return c.type === 'Complete'
    ? { done: 'Complete' }
    : { done: 'Failed', reason: c.reason ?? 'Failed', message: c.message ?? '' };
}

export async function listJobs(cluster: KubeCluster, namespace: string, labelSelector: string): Promise<V1Job[]> {
  try {
    return (await cluster.batch.listNamespacedJob({ namespace, labelSelector })).items;
  } catch (error) {
    throw kubeError('GET', `jobs/${namespace}?${labelSelector}`, error);
  }
}

/** The Job, or undefined when there is none of that name. */
export async function readJob(cluster: KubeCluster, namespace: string, name: string): Promise<V1Job | undefined> {
  try {
    return await cluster.batch.readNamespacedJob({ name, namespace });
  } catch (error) {
    if (kubeStatus(error) === 404) return undefined;
    throw kubeError('GET', `jobs/${namespace}/${name}`, error);
  }
}

/** Deletes the Job and its pods (they are sent SIGTERM and get their grace period); false when it was gone. */
export async function deleteJob(cluster: KubeCluster, namespace: string, name: string): Promise<boolean> {
  try {
    await cluster.batch.deleteNamespacedJob({ name, namespace, propagationPolicy: 'Foreground' });
    return true;
  } catch (error) {
    if (kubeStatus(error) === 404) return false;
    throw kubeError('DELETE', `jobs/${namespace}/${name}`, error);
  }
}

/** Creates the Job; one of that name already there is adopted ('exists'). */
export async function createJob(cluster: KubeCluster, namespace: string, job: V1Job): Promise<'created' | 'exists'> {
  try {
    await cluster.batch.createNamespacedJob({ namespace, body: job });
    return 'created';
  } catch (error) {
    if (kubeStatus(error) === 409) return 'exists';
    throw kubeError('POST', `jobs/${namespace}/${job.metadata?.name}`, error);
  }
}

/**
 * Waits until the Job changes so that `changed` holds, `timeoutMs` passes, or `signal` aborts.
 * It never rejects: the caller reads the Job again (a lost event is caught by that read).
 */
export function watchJob(
  cluster: KubeCluster,
  namespace: string,
  name: string,
  resourceVersion: string,
  changed: (job: V1Job) => boolean,
  o: { signal: AbortSignal; timeoutMs: number },
): Promise<void> {
  return watchOne(cluster, `/apis/batch/v1/namespaces/${namespace}/jobs`, name, resourceVersion, changed, o);
}
