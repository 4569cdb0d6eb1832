// Any object by apiVersion/kind/namespace/name (the journal's objects are of many kinds): read,
// write back with the resourceVersion it was read at, delete. client-node resolves the resource.
import { KubernetesObjectApi, type KubernetesObject } from '@kubernetes/client-node';
import type { ObjectId } from '../../core/journal.ts';
import { describeObject } from '../../core/journal.ts';
import { kubeError, kubeStatus, type KubeCluster } from './cluster.ts';

const header = (id: ObjectId) => ({
  apiVersion: id.apiVersion,
  kind: id.kind,
  metadata: { name: id.name, ...(id.namespace ? { namespace: id.namespace } : {}) },
});

/** The object, or undefined when it (or its kind) does not exist. */
export async function readObject(cluster: KubeCluster, id: ObjectId): Promise<KubernetesObject | undefined> {
  try {
    return await KubernetesObjectApi.makeApiClient(cluster.config).read(header(id));
  } catch (error) {
    if (kubeStatus(error) === 404) return undefined;
    throw kubeError('GET', describeObject(id), error);
  }
}

/** Writes the object back whole (PUT): fails with 409 when it changed since it was read. */
export async function replaceObject(cluster: KubeCluster, object: KubernetesObject): Promise<KubernetesObject> {
  try {
    return await KubernetesObjectApi.makeApiClient(cluster.config).replace(
      object,
      undefined,
      undefined,
      'sovereign-cutover',
    );
  } catch (error) {
    throw kubeError('PUT', `${object.kind} ${object.metadata?.namespace ?? ''}/${object.metadata?.name}`, error);
  }
}

/** Deletes the object; true when it was there. */
export async function deleteObject(cluster: KubeCluster, id: ObjectId): Promise<boolean> {
  try {
    await KubernetesObjectApi.makeApiClient(cluster.config).delete(header(id));
    return true;
  } catch (error) {
    if (kubeStatus(error) === 404) return false;
    throw kubeError('DELETE', describeObject(id), error);
  }
}
