// Server-side apply: declare the whole object, let the API server merge; re-applying the same
// object changes nothing.
import { KubernetesObjectApi, PatchStrategy, type KubeConfig, type KubernetesObject } from '@kubernetes/client-node';
import { kubeError } from './cluster.ts';

export async function serverSideApply(config: KubeConfig, objects: KubernetesObject[], fieldManager: string): Promise<void> {
  const api = KubernetesObjectApi.makeApiClient(config);
  for (const object of objects) {
    try {
      await api.patch(object, undefined, undefined, fieldManager, true, PatchStrategy.ServerSideApply);
    } catch (error) {
      throw kubeError('APPLY', `${object.kind} ${object.metadata?.namespace ?? ''}/${object.metadata?.name}`, error);
    }
  }
}
