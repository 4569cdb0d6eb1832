// What steps work with: the cluster, the Sovereign's Gitea and Harbor, and upstream credentials —
// built once per run by the composition root from values and the Secrets they name.
import type { KubeCluster } from '../adapters/kube/cluster.ts';
import type { Forge } from '../adapters/gitea/gitea-forge.ts';
import type { HarborApi } from '../adapters/harbor/harbor-api.ts';
import type { StatusStore } from '../adapters/kube/status-store.ts';
import type { JournalStore } from '../adapters/kube/journal-store.ts';
import type { DistributionClient } from '../adapters/oci/distribution-client.ts';
import type { HostProject } from '../core/values.ts';

export interface Credentials {
  username: string;
  password: string;
}

/** OCI distribution clients: the local Harbor's registry, and one per upstream host (with its credentials). */
export interface Registries {
  local: DistributionClient;
  upstream(row: HostProject): DistributionClient;
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
  /** A private upstream Git's credential (`upstream.credentialsSecretRef`), if one is set. */
  upstreamGit?: Credentials | undefined;
  registries: Registries;
  /** The status ConfigMap (steps write progress and read the flip; the engine owns the rest). */
  status: StatusStore;
  /** Where every change is recorded before it is made (core/journal.ts; `cutover rollback` reads it). */
  journal: JournalStore;
}
