// Writes a pod's status as a kubelet reports it — phase, conditions, every container's state —
// from what the pod runner keeps. Jobs' status is not written here: kube-controller-manager's Job
// controller derives it from these pods.
import type { V1PodCondition } from '@kubernetes/client-node';
import { kubeStatus as statusOf, mergePatch, type KubeCluster } from '../../src/adapters/kube/cluster.ts';
import { log } from './log.ts';
import type { PodRuntime } from './pod-runtime.ts';

const KUBELET_CONDITIONS = ['PodScheduled', 'Initialized', 'ContainersReady', 'Ready'];

export class StatusPublisher {
  readonly #kube: KubeCluster;
  /** A pod the apiserver no longer has: the runner forgets it. */
  readonly #gone: (rt: PodRuntime) => void;

  constructor(kube: KubeCluster, gone: (rt: PodRuntime) => void) {
    this.#kube = kube;
    this.#gone = gone;
  }

  /**
   * `terminal`: the last report of a pod being deleted — its phase made terminal, as a kubelet does
   * before the pod goes (the Job controller's pod failure policy judges that phase and its conditions).
   */
  async publish(rt: PodRuntime, options: { terminal?: boolean } = {}): Promise<void> {
    if (rt.stopped && !options.terminal) return;
    const containers = [...rt.containers.values()].map((c) => c.status);
    const inits = [...rt.init.values()].map((c) => c.status);
    const initialized = inits.every((s) => s.state?.terminated?.exitCode === 0);
    const ready = rt.phase === 'Running' && containers.every((s) => s.ready);
    const now = new Date();
    const condition = (type: string, ok: boolean): V1PodCondition => ({
      type,
      status: ok ? 'True' : 'False',
      lastTransitionTime: now,
    });
    const status = {
      phase: rt.phase,
      hostIP: rt.pod.status?.hostIP ?? '',
      hostIPs: [{ ip: rt.pod.status?.hostIP ?? '' }],
      podIP: rt.network.ip,
      podIPs: [{ ip: rt.network.ip }],
      startTime: rt.pod.status?.startTime ?? now,
      conditions: [
        condition('PodScheduled', true),
        condition('Initialized', initialized),
        condition('ContainersReady', ready),
        condition('Ready', ready),
        // Conditions others own stay (the apiserver's DisruptionTarget on an eviction): this is a merge patch.
        ...(rt.pod.status?.conditions ?? []).filter((c) => !KUBELET_CONDITIONS.includes(c.type)),
      ],
      containerStatuses: containers,
      ...(inits.length ? { initContainerStatuses: inits } : {}),
    };
    try {
      await this.#kube.core.patchNamespacedPodStatus(
        { name: rt.pod.metadata?.name ?? '', namespace: rt.pod.metadata?.namespace ?? '', body: { status } },
        mergePatch,
      );
    } catch (error) {
      if (statusOf(error) === 404) this.#gone(rt);
      else log(`status ${rt.key}: ${String(error)}`);
    }
  }
}
