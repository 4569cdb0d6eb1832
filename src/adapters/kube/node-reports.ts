// The node agents' reports (core/contracts NODE_REPORT): one ConfigMap per node in the agent's
// namespace, written by server-side apply by that node's agent, listed by the engine and the inventory.
import type { KubernetesObject } from '@kubernetes/client-node';
import type { Values } from '../../core/values.ts';
import {
  agentNamespace,
  COMPONENT_LABEL,
  NODE_REPORT,
  PART_OF,
  PART_OF_LABEL,
  type AgentRegistryReport,
} from '../../core/contracts.ts';
import { serverSideApply } from './apply.ts';
import { kubeError, kubeStatus, type KubeCluster } from './cluster.ts';

export interface NodeReport {
  node: string;
  /** What the node's files match: v1, v2 or rollback. */
  registriesYaml: string;
  /** Host → the endpoint the node's containerd resolves it through. */
  registryHosts: AgentRegistryReport | undefined;
  /** The ConfigMap's name. */
  name: string;
}

export class NodeReports {
  readonly #cluster: KubeCluster;
  readonly namespace: string;

  constructor(cluster: KubeCluster, namespace: string) {
    this.#cluster = cluster;
    this.namespace = namespace;
  }

  /** The reports of the agent an install in `installNamespace` deploys (its namespace follows the values). */
  static forInstall(cluster: KubeCluster, values: Values, installNamespace: string): NodeReports {
    return new NodeReports(cluster, agentNamespace(values, installNamespace));
  }

  async write(node: string, registriesYaml: string, registryHosts: AgentRegistryReport): Promise<void> {
    const object = {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: {
        name: NODE_REPORT.name(node),
        namespace: this.namespace,
        labels: { [PART_OF_LABEL]: PART_OF, [COMPONENT_LABEL]: NODE_REPORT.component },
      },
      data: { node, registriesYaml, registryHosts: JSON.stringify(registryHosts) },
    };
    await serverSideApply(this.#cluster.config, [object as KubernetesObject], 'sovereign-cutover-agent');
  }

  /** Every node's report (an unparsable host report is `undefined`); none when the namespace has none. */
  async list(): Promise<NodeReport[]> {
    try {
      const list = await this.#cluster.core.listNamespacedConfigMap({
        namespace: this.namespace,
        labelSelector: `${COMPONENT_LABEL}=${NODE_REPORT.component}`,
      });
      return list.items.map((cm) => {
        let registryHosts: AgentRegistryReport | undefined;
        try {
          registryHosts = JSON.parse(cm.data?.registryHosts ?? '') as AgentRegistryReport;
        } catch {
          registryHosts = undefined;
        }
        return {
          node: cm.data?.node ?? '',
          registriesYaml: cm.data?.registriesYaml ?? '',
          registryHosts,
          name: cm.metadata?.name ?? '',
        };
      });
    } catch (error) {
      if (kubeStatus(error) === 404) return [];
      throw kubeError('GET', `configmaps/${this.namespace}?labelSelector=${NODE_REPORT.component}`, error);
    }
  }

  /** Removes a departed node's report. */
  async remove(name: string): Promise<void> {
    await this.#cluster.core.deleteNamespacedConfigMap({ name, namespace: this.namespace }).catch((error: unknown) => {
      if (kubeStatus(error) !== 404) throw kubeError('DELETE', `configmaps/${this.namespace}/${name}`, error);
    });
  }
}
