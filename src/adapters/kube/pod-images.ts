// Watches every Pod in the cluster for the images it names (issue 15 §1: the cluster's pins seen as
// they appear, not at the next full re-list). A watch from the resourceVersion of one list; when the
// apiserver ends it (timeout, 410 Gone, a lost connection) it is started again from a fresh list,
// after a short pause. Each image reported once per process: a caller is nudged by what is new.
import { Watch, type V1Pod } from '@kubernetes/client-node';
import type { KubeCluster } from './cluster.ts';

const podImages = (pod: V1Pod): string[] =>
  [...(pod.spec?.initContainers ?? []), ...(pod.spec?.containers ?? []), ...(pod.spec?.ephemeralContainers ?? [])]
    .map((c) => c.image ?? '')
    .filter(Boolean);

/**
 * Calls `onNew` with the images of Pods not seen before (those of the first list included), until
 * `signal` aborts. Never throws: a failed list or watch is retried after `retryMs`, and `onError` is told.
 */
export function watchPodImages(
  cluster: KubeCluster,
  onNew: (images: string[]) => void,
  o: { signal: AbortSignal; onError: (error: unknown) => void; retryMs?: number },
): void {
  const seen = new Set<string>();
  const report = (pods: V1Pod[]) => {
    const fresh = [...new Set(pods.flatMap(podImages))].filter((i) => !seen.has(i));
    for (const i of fresh) seen.add(i);
    if (fresh.length) onNew(fresh);
  };
  let request: { abort(): void } | undefined;
  o.signal.addEventListener('abort', () => request?.abort(), { once: true });
  const again = () => {
    if (!o.signal.aborted) setTimeout(() => void start(), o.retryMs ?? 2000).unref();
  };
  const start = async () => {
    try {
      const list = await cluster.core.listPodForAllNamespaces();
      report(list.items);
      request = await new Watch(cluster.config).watch(
        '/api/v1/pods',
        { resourceVersion: list.metadata?.resourceVersion, allowWatchBookmarks: true },
        (type: string, pod: V1Pod) => {
          if (type === 'ADDED' || type === 'MODIFIED') report([pod]);
        },
        (error: unknown) => {
          if (error && !o.signal.aborted) o.onError(error);
          again();
        },
      );
      if (o.signal.aborted) request.abort();
    } catch (error) {
      o.onError(error);
      again();
    }
  };
  void start();
}
