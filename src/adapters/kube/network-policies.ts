// Network policies: Kubernetes NetworkPolicies and, where Cilium runs, its cluster-wide policies
// (cilium.io/v2 CiliumClusterwideNetworkPolicy) — listed, counted and removed by label; written by
// server-side apply (apply.ts). Every failure leaves as a PeerError (kubeError).
import { kubeError, kubeStatus, type KubeCluster } from './cluster.ts';

const CCNP = { group: 'cilium.io', version: 'v2', plural: 'ciliumclusterwidenetworkpolicies' };

/** `apiVersion` of a CiliumClusterwideNetworkPolicy. */
export const CILIUM_API_VERSION = `${CCNP.group}/${CCNP.version}`;

/** NetworkPolicies in every namespace that carry the label selector. */
export async function listNetworkPolicies(
  cluster: KubeCluster,
  labelSelector: string,
): Promise<Array<{ namespace: string; name: string }>> {
  try {
    return (await cluster.networking.listNetworkPolicyForAllNamespaces({ labelSelector })).items.map((p) => ({
      namespace: p.metadata?.namespace ?? '',
      name: p.metadata?.name ?? '',
    }));
  } catch (error) {
    throw kubeError('GET', `networkpolicies?labelSelector=${labelSelector}`, error);
  }
}

/** Deletes a NetworkPolicy; one already gone is fine. */
export async function deleteNetworkPolicy(cluster: KubeCluster, namespace: string, name: string): Promise<void> {
  try {
    await cluster.networking.deleteNamespacedNetworkPolicy({ name, namespace });
  } catch (error) {
    if (kubeStatus(error) !== 404) throw kubeError('DELETE', `networkpolicies/${namespace}/${name}`, error);
  }
}

/** Whether the cluster serves CiliumClusterwideNetworkPolicy (Cilium's CRD is installed). */
export async function ciliumInstalled(cluster: KubeCluster): Promise<boolean> {
  try {
    await cluster.custom.listClusterCustomObject({ ...CCNP, limit: 1 });
    return true;
  } catch (error) {
    if (kubeStatus(error) === 404) return false;
    throw kubeError('GET', `${CCNP.plural}.${CCNP.group}`, error);
  }
}

/** How many CiliumClusterwideNetworkPolicies carry the label selector. */
export async function countCiliumPolicies(cluster: KubeCluster, labelSelector: string): Promise<number> {
  try {
    return ((await cluster.custom.listClusterCustomObject({ ...CCNP, labelSelector })) as { items: unknown[] }).items
      .length;
  } catch (error) {
    throw kubeError('GET', `${CCNP.plural}?labelSelector=${labelSelector}`, error);
  }
}

/** Deletes a CiliumClusterwideNetworkPolicy; true when it was there. */
export async function deleteCiliumPolicy(cluster: KubeCluster, name: string): Promise<boolean> {
  try {
    await cluster.custom.deleteClusterCustomObject({ ...CCNP, name });
    return true;
  } catch (error) {
    if (kubeStatus(error) === 404) return false;
    throw kubeError('DELETE', `${CCNP.plural}/${name}`, error);
  }
}

/** Where pods reach the kube-apiserver: an address (a /32 or /128) and the TCP ports on it. */
export interface ApiserverEndpoint {
  cidr: string;
  ports: number[];
}

/**
 * The kube-apiserver as pods reach it: the `kubernetes` Service's cluster IP on its port (CNIs
 * that match policy before translating the Service address) and every address of its
 * EndpointSlices on their ports (CNIs that match after).
 */
export async function apiserverEndpoints(cluster: KubeCluster): Promise<ApiserverEndpoint[]> {
  const host = (ip: string) => (ip.includes(':') ? `${ip}/128` : `${ip}/32`);
  try {
    const service = await cluster.core.readNamespacedService({ name: 'kubernetes', namespace: 'default' });
    const found: ApiserverEndpoint[] = [];
    const ip = service.spec?.clusterIP;
    if (ip && ip !== 'None') found.push({ cidr: host(ip), ports: (service.spec?.ports ?? []).map((p) => p.port) });
    const slices = await cluster.discovery.listNamespacedEndpointSlice({
      namespace: 'default',
      labelSelector: 'kubernetes.io/service-name=kubernetes',
    });
    for (const slice of slices.items) {
      const ports = (slice.ports ?? []).map((p) => p.port).filter((p): p is number => p !== undefined);
      for (const e of slice.endpoints) for (const address of e.addresses) found.push({ cidr: host(address), ports });
    }
    return found;
  } catch (error) {
    throw kubeError('GET', 'services/default/kubernetes and its EndpointSlices', error);
  }
}
