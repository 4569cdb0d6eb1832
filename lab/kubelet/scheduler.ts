// The lab's scheduler: binds a pod to a lab node — the one its nodeSelector or DaemonSet-style
// nodeAffinity names, else the next in turn.
import type { V1Pod } from '@kubernetes/client-node';
import { kubeStatus as statusOf, type KubeCluster } from '../../src/adapters/kube/cluster.ts';
import { log } from './log.ts';

export class Scheduler {
  readonly #kube: KubeCluster;
  readonly #nodes: ReadonlyArray<{ name: string }>;
  #roundRobin = 0;

  constructor(kube: KubeCluster, nodes: ReadonlyArray<{ name: string }>) {
    this.#kube = kube;
    this.#nodes = nodes;
  }

  async bind(pod: V1Pod): Promise<void> {
    const node = this.#pickNode(pod);
    if (!node) return;
    try {
      await this.#kube.core.createNamespacedPodBinding({
        name: pod.metadata?.name ?? '',
        namespace: pod.metadata?.namespace ?? '',
        body: { metadata: { name: pod.metadata?.name ?? '' }, target: { apiVersion: 'v1', kind: 'Node', name: node } },
      });
    } catch (error) {
      if (statusOf(error) !== 409 && statusOf(error) !== 404) log(`bind ${pod.metadata?.name}: ${String(error)}`);
    }
  }

  /** nodeSelector, DaemonSet-style nodeAffinity on metadata.name, else round-robin. */
  #pickNode(pod: V1Pod): string | undefined {
    let candidates = this.#nodes.map((n) => n.name);
    const selector = pod.spec?.nodeSelector ?? {};
    if (selector['kubernetes.io/hostname'])
      candidates = candidates.filter((n) => n === selector['kubernetes.io/hostname']);
    for (const term of pod.spec?.affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution
      ?.nodeSelectorTerms ?? []) {
      for (const field of term.matchFields ?? []) {
        if (field.key === 'metadata.name' && field.operator === 'In')
          candidates = candidates.filter((n) => field.values?.includes(n));
      }
      for (const expr of term.matchExpressions ?? []) {
        if (expr.key === 'kubernetes.io/hostname' && expr.operator === 'In')
          candidates = candidates.filter((n) => expr.values?.includes(n));
      }
    }
    if (!candidates.length) return undefined;
    return candidates[this.#roundRobin++ % candidates.length];
  }
}
