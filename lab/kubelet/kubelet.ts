// The lab kubelet: registers the lab nodes, binds unscheduled pods to them, and runs pods —
// every image pulled through that node's containerd (so the node's certs.d decides where bytes
// come from); containers of the project's own image run as local `cutover` processes inside a
// private mount namespace that binds the pod's volumes at their mount paths (the ServiceAccount
// token at /var/run/secrets/kubernetes.io/serviceaccount, hostPaths at the node's directories);
// any other container is a long-running stand-in, Ready once its image is pulled. Every pod has its
// own network namespace on its node's bridge (pod-network.ts); NetworkPolicy is not the kubelet's
// job (kube-network-policies judges the traffic). This class watches and routes; each job has its
// module: scheduler.ts, pod-runner.ts (with pod-network.ts, image-puller.ts, process-runner.ts,
// status-publisher.ts), service-forward.ts.
import { setTimeout as sleep } from 'node:timers/promises';
import { Watch, type V1Pod } from '@kubernetes/client-node';
import { KubeCluster } from '../../src/adapters/kube/cluster.ts';
import { log } from './log.ts';
import { heartbeat, registerNode } from './nodes.ts';
import { PodNetwork } from './pod-network.ts';
import { PodRunner } from './pod-runner.ts';
import type { KubeletNode } from './pod-runtime.ts';
import { Scheduler } from './scheduler.ts';
import { ServiceForward, type ServiceForwardConfig } from './service-forward.ts';

export interface KubeletConfig {
  kubeconfig: string;
  nodes: KubeletNode[];
  /** Repository paths (after the registry host) that are the project's own image. */
  projectImageRepos: string[];
  /** Entry of the project's CLI, run with the kubelet's own Node.js. */
  cliPath: string;
  runDir: string;
  /** Services the host reaches on a 127.0.0.1 port (the lab's ingress). */
  forwards: ServiceForwardConfig[];
}

export class LabKubelet {
  readonly #config: KubeletConfig;
  readonly #kube: KubeCluster;
  readonly #scheduler: Scheduler;
  readonly #forwards: ServiceForward[];
  readonly #pods: PodRunner;
  #stopping = false;

  constructor(config: KubeletConfig) {
    this.#config = config;
    this.#kube = KubeCluster.connect(config.kubeconfig);
    this.#scheduler = new Scheduler(this.#kube, config.nodes);
    this.#forwards = config.forwards.map((f) => new ServiceForward(this.#kube, f));
    this.#pods = new PodRunner(this.#kube, config);
  }

  async start(): Promise<void> {
    // Pods of an earlier kubelet are run anew, each in a new namespace.
    PodNetwork.removeAll();
    for (const node of this.#config.nodes) await registerNode(this.#kube, node.name);
    for (const forward of this.#forwards) await forward.start();
    void this.#heartbeats();
    void this.#watchPods();
    void this.#resync();
  }

  stop(): void {
    this.#stopping = true;
    for (const forward of this.#forwards) forward.stop();
    this.#pods.stopAll();
    PodNetwork.removeAll();
  }

  async #heartbeats(): Promise<void> {
    for (let tick = 1; !this.#stopping; tick++) {
      await sleep(10_000);
      for (const node of this.#config.nodes)
        await heartbeat(this.#kube, node.name, tick % 3 === 0).catch((e: unknown) =>
          log(`heartbeat ${node.name}: ${String(e)}`),
        );
    }
  }

  async #watchPods(): Promise<void> {
    const watch = new Watch(this.#kube.config);
    while (!this.#stopping) {
      await new Promise<void>((resolve) => {
        watch
          .watch(
            '/api/v1/pods',
            { allowWatchBookmarks: false },
            (type: string, pod: V1Pod) => void this.#reconcile(type, pod),
            () => resolve(),
          )
          .catch(() => resolve());
      });
      await sleep(500);
    }
  }

  /** Level-triggered backstop: every pod is reconsidered periodically, not only on events. */
  async #resync(): Promise<void> {
    while (!this.#stopping) {
      try {
        const list = await this.#kube.core.listPodForAllNamespaces();
        for (const pod of list.items) await this.#reconcile('SYNC', pod);
      } catch (error) {
        log(`resync: ${String(error)}`);
      }
      await sleep(5_000);
    }
  }

  /** Unbound pods go to the scheduler, pods bound to one of this kubelet's nodes to the pod runner. */
  async #reconcile(type: string, pod: V1Pod): Promise<void> {
    if (!['ADDED', 'MODIFIED', 'DELETED', 'SYNC'].includes(type) || !pod.metadata?.name || !pod.metadata.uid) return;
    const uid = pod.metadata.uid;
    const nodeName = pod.spec?.nodeName;
    if (type === 'DELETED') {
      this.#pods.deleted(uid);
      return;
    }
    if (!nodeName) {
      if (!pod.metadata?.deletionTimestamp && (pod.spec?.schedulerName ?? 'default-scheduler') === 'default-scheduler')
        await this.#scheduler.bind(pod);
      return;
    }
    const node = this.#config.nodes.find((n) => n.name === nodeName);
    if (!node) return;
    await this.#pods.sync(pod, uid, node);
  }
}
