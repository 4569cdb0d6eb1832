// Nodes and namespaces: the cluster's shape as the steps need it.
import { kubeError, type KubeCluster } from './cluster.ts';

/** The names of every node. */
export async function nodeNames(cluster: KubeCluster): Promise<string[]> {
  try {
    return (await cluster.core.listNode()).items.map((n) => n.metadata?.name ?? '').filter(Boolean);
  } catch (error) {
    throw kubeError('GET', 'nodes', error);
  }
}

/** The names of every namespace that is not being deleted. */
export async function activeNamespaces(cluster: KubeCluster): Promise<string[]> {
  try {
    return (await cluster.core.listNamespace()).items
      .filter((n) => n.status?.phase !== 'Terminating')
      .map((n) => n.metadata?.name ?? '')
      .filter(Boolean);
  } catch (error) {
    throw kubeError('GET', 'namespaces', error);
  }
}
