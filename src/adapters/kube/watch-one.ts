// One object watched until it changes: a watch from the resourceVersion the caller read, so nothing
// written since that read is missed, ended by the first change that matters, a timeout or an abort.
import { Watch, type KubernetesObject } from '@kubernetes/client-node';
import type { KubeCluster } from './cluster.ts';

/**
 * Resolves when the object `name` under the list path `path` changes so that `changed` holds,
 * `timeoutMs` passes, or `signal` aborts. Never rejects: a broken watch ends the wait too, and the
 * caller reads the object again (what it then finds is the truth, whatever the watch saw).
 */
export function watchOne<T extends KubernetesObject>(
  cluster: KubeCluster,
  path: string,
  name: string,
  resourceVersion: string,
  changed: (object: T) => boolean,
  o: { signal: AbortSignal; timeoutMs: number },
): Promise<void> {
  const watch = new Watch(cluster.config);
  return new Promise<void>((resolve) => {
    let request: { abort(): void } | undefined;
    let finished = false;
    const finish = () => {
      finished = true;
      clearTimeout(timer);
      o.signal.removeEventListener('abort', finish);
      request?.abort();
      resolve();
    };
    const timer = setTimeout(finish, o.timeoutMs);
    if (o.signal.aborted) return finish();
    o.signal.addEventListener('abort', finish, { once: true });
    watch
      .watch(
        path,
        { fieldSelector: `metadata.name=${name}`, resourceVersion },
        (_type: string, object: T) => {
          if (changed(object)) finish();
        },
        () => finish(),
      )
      .then(
        (r) => {
          request = r;
          if (finished) r.abort(); // it ended before the watch was up
        },
        () => finish(),
      );
  });
}
