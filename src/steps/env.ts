// What steps work with: the cluster, the Sovereign's Gitea and Harbor, and upstream credentials —
// built once per run by the composition root from values and the Secrets they name.
import type { KubeCluster } from '../adapters/kube/cluster.ts';
import type { Forge } from '../adapters/gitea/gitea-forge.ts';
import type { HarborApi } from '../adapters/harbor/harbor-api.ts';

export interface Credentials {
  username: string;
  password: string;
}

export interface StepEnv {
  cluster: KubeCluster;
  /** Namespace the cutover is installed in (status ConfigMap, Lease, agent DaemonSet). */
  namespace: string;
  forge: Forge;
  harbor: HarborApi;
  harborCredentials: Credentials;
  /** Registry host → credentials, from the dockerconfigjson Secret (`harbor.ghcrSecretRef`). */
  upstreamAuths: Map<string, Credentials>;
}
