// The kubelet proper: runs the pods bound to the lab's nodes — volumes materialised, every image
// pulled through the node's containerd, init containers then containers (the project's image as
// local processes, restarted per restartPolicy; any other a stand-in, Ready once pulled) — and
// kills and forgets a pod once it is deleted.
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { V1Container, V1ContainerStatus, V1Pod } from '@kubernetes/client-node';
import type { KubeCluster } from '../../src/adapters/kube/cluster.ts';
import { ImagePuller, normaliseImage } from './image-puller.ts';
import { log } from './log.ts';
import { materialiseVolume, PodSpecError, refreshVolumes } from './pod-spec.ts';
import type { ContainerRuntime, KubeletNode, PodRuntime } from './pod-runtime.ts';
import { ProcessRunner, type ProcessRunnerConfig } from './process-runner.ts';
import { StatusPublisher } from './status-publisher.ts';
import { PodNetwork } from './pod-network.ts';
import { NODE_NETWORKS, type NodeName } from '../topology.ts';

export interface PodRunnerConfig extends ProcessRunnerConfig {
  /** Repository paths (after the registry host) that are the project's own image. */
  projectImageRepos: string[];
  runDir: string;
}

/** How often a running pod's ConfigMap and Secret volumes are read again. */
const VOLUME_SYNC_MS = 10_000;

export class PodRunner {
  readonly #config: PodRunnerConfig;
  readonly #kube: KubeCluster;
  readonly #pods = new Map<string, PodRuntime>();
  readonly #status: StatusPublisher;
  readonly #images: ImagePuller;
  readonly #processes: ProcessRunner;
  readonly #network = new PodNetwork();

  constructor(kube: KubeCluster, config: PodRunnerConfig) {
    this.#config = config;
    this.#kube = kube;
    this.#status = new StatusPublisher(kube, (rt) => this.#forget(rt));
    this.#images = new ImagePuller(this.#status);
    this.#processes = new ProcessRunner(kube, config, this.#status);
  }

  /** The pod is gone from the apiserver (a termination under way finishes on its own). */
  deleted(uid: string): void {
    const rt = this.#pods.get(uid);
    if (rt && !rt.terminating) this.#forget(rt);
  }

  /** A pod bound to one of this kubelet's nodes: started once, killed and removed when it is being deleted. */
  async sync(pod: V1Pod, uid: string, node: KubeletNode): Promise<void> {
    const rt = this.#pods.get(uid);
    if (pod.metadata?.deletionTimestamp) {
      if (rt?.terminating) return;
      // As a kubelet: SIGTERM, the grace period for the containers to exit (their volumes and
      // token still there), SIGKILL, and only then the pod object goes and its volumes with it.
      const finish = async (): Promise<void> => {
        if (rt) {
          await this.#terminate(rt, pod.metadata?.deletionGracePeriodSeconds ?? 30);
          // A kubelet makes a deleted pod's phase terminal before it goes (Failed unless all succeeded).
          if (rt.phase !== 'Succeeded' && rt.phase !== 'Failed') {
            const codes = [...rt.containers.values()].map((c) => c.status.state?.terminated?.exitCode);
            rt.phase = codes.length && codes.every((code) => code === 0) ? 'Succeeded' : 'Failed';
            rt.pod = pod;
            await this.#status.publish(rt, { terminal: true });
          }
        }
        await this.#kube.core
          .deleteNamespacedPod({
            name: pod.metadata?.name ?? '',
            namespace: pod.metadata?.namespace ?? '',
            gracePeriodSeconds: 0,
          })
          .catch(() => undefined);
        if (rt) this.#forget(rt);
      };
      if (!rt) return await finish();
      rt.terminating = finish(); // in the background: other pods' events go on meanwhile
      return;
    }
    if (rt) {
      rt.pod = { ...pod, status: { ...pod.status, podIP: rt.network.ip, hostIP: nodeAddress(node) } };
      return;
    }
    if (pod.status?.phase === 'Succeeded' || pod.status?.phase === 'Failed') return;
    const runtime: PodRuntime = {
      uid,
      key: `${pod.metadata?.namespace}/${pod.metadata?.name}`,
      pod,
      node,
      containers: new Map(),
      init: new Map(),
      stopped: false,
      phase: 'Pending',
      dir: join(this.#config.runDir, 'pods', `${pod.metadata?.namespace}_${pod.metadata?.name}_${uid}`),
      network: this.#network.attach(uid, node.name as NodeName),
    };
    // What the downward API and the status report: the pod's address and its node's.
    runtime.pod = {
      ...pod,
      status: { ...pod.status, podIP: runtime.network.ip, hostIP: nodeAddress(node) },
    };
    this.#pods.set(uid, runtime);
    this.#run(runtime).catch((error: unknown) =>
      log(`pod ${runtime.key}: ${error instanceof Error ? error.stack : String(error)}`),
    );
  }

  /** Kills every pod's processes (the kubelet is stopping). */
  stopAll(): void {
    for (const rt of this.#pods.values()) this.#killAll(rt);
  }

  async #run(rt: PodRuntime): Promise<void> {
    const spec = rt.pod.spec;
    if (!spec) return;
    mkdirSync(rt.dir, { recursive: true });
    for (const c of spec.initContainers ?? [])
      rt.init.set(c.name, { name: c.name, status: waiting(c, 'PodInitializing') });
    for (const c of spec.containers)
      rt.containers.set(c.name, { name: c.name, status: waiting(c, 'ContainerCreating') });
    await this.#status.publish(rt);

    let volumes: Record<string, string>;
    try {
      volumes = {};
      for (const v of spec.volumes ?? [])
        volumes[v.name] = await materialiseVolume(this.#kube, rt.pod, v, rt.dir, rt.node);
    } catch (error) {
      const reason = error instanceof PodSpecError ? error.reason : 'CreateContainerConfigError';
      for (const c of rt.containers.values())
        c.status.state = { waiting: { reason, message: error instanceof Error ? error.message : String(error) } };
      await this.#status.publish(rt);
      // Like a kubelet: keep trying; the missing object may appear.
      await sleep(5_000);
      this.#network.detach(rt.network);
      this.#pods.delete(rt.uid);
      return;
    }

    for (const c of spec.initContainers ?? []) {
      const runtime = rt.init.get(c.name) as ContainerRuntime;
      if (!(await this.#images.pull(rt, c, runtime))) return;
      let code = 0;
      if (this.#isProject(c.image ?? '')) code = await this.#processes.run(rt, c, runtime, volumes, true);
      else
        runtime.status = {
          ...runtime.status,
          ready: true,
          state: { terminated: { exitCode: 0, reason: 'Completed', startedAt: new Date(), finishedAt: new Date() } },
        };
      if (rt.stopped) return;
      if (code !== 0) {
        rt.phase = spec.restartPolicy === 'Never' ? 'Failed' : 'Pending';
        await this.#status.publish(rt);
        return;
      }
    }

    for (const c of spec.containers) {
      const runtime = rt.containers.get(c.name) as ContainerRuntime;
      if (!(await this.#images.pull(rt, c, runtime))) return;
    }
    rt.phase = 'Running';
    void this.#keepVolumesFresh(rt);
    for (const c of spec.containers) {
      const runtime = rt.containers.get(c.name) as ContainerRuntime;
      if (this.#isProject(c.image ?? '')) void this.#supervise(rt, c, runtime, volumes);
      else
        runtime.status = {
          ...runtime.status,
          ready: true,
          started: true,
          state: { running: { startedAt: new Date() } },
        };
    }
    await this.#status.publish(rt);
  }

  /** A kubelet's volume sync (every 10 s here; about a minute in a real one) until the pod stops. */
  async #keepVolumesFresh(rt: PodRuntime): Promise<void> {
    while (!rt.stopped && !rt.terminating && this.#pods.get(rt.uid) === rt) {
      await sleep(VOLUME_SYNC_MS);
      if (rt.stopped || rt.terminating) return;
      await refreshVolumes(this.#kube, rt.pod, rt.dir, rt.node).catch(() => undefined); // the next sync retries
    }
  }

  /** Restarts a project container per the pod's restartPolicy until the pod stops or finishes. */
  async #supervise(
    rt: PodRuntime,
    c: V1Container,
    runtime: ContainerRuntime,
    volumes: Record<string, string>,
  ): Promise<void> {
    const policy = rt.pod.spec?.restartPolicy ?? 'Always';
    for (;;) {
      const code = await this.#processes.run(rt, c, runtime, volumes, false);
      if (rt.stopped) return;
      const restart = policy === 'Always' || (policy === 'OnFailure' && code !== 0);
      if (!restart) break;
      runtime.status.restartCount = (runtime.status.restartCount ?? 0) + 1;
      await sleep(Math.min(10_000, 1_000 * 2 ** Math.min(runtime.status.restartCount, 4)));
    }
    const all = [...rt.containers.values()];
    if (all.every((r) => r.status.state?.terminated)) {
      rt.phase = all.every((r) => r.status.state?.terminated?.exitCode === 0) ? 'Succeeded' : 'Failed';
      // Its network stays until the pod is deleted: the status still names the address, and a second pod
      // on it would make the address ambiguous to whatever finds pods by IP (NetworkPolicy does).
      await this.#status.publish(rt);
    }
  }

  #isProject(image: string): boolean {
    const path = normaliseImage(image)
      .replace(/^[^/]+\//, '')
      .replace(/[:@].*$/, '');
    return this.#config.projectImageRepos.some((repo) => path === repo || path.endsWith(`/${repo}`));
  }

  /** SIGTERM to every container, up to `graceSeconds` for them to exit, SIGKILL to what is left. */
  async #terminate(rt: PodRuntime, graceSeconds: number): Promise<void> {
    this.#killAll(rt);
    const running = () => [...rt.containers.values(), ...rt.init.values()].filter((c) => c.process);
    const deadline = Date.now() + graceSeconds * 1000;
    while (running().length && Date.now() < deadline) await sleep(200);
    for (const c of running()) c.process?.kill('SIGKILL');
  }

  #killAll(rt: PodRuntime): void {
    rt.stopped = true;
    for (const c of [...rt.containers.values(), ...rt.init.values()]) c.process?.kill('SIGTERM');
  }

  #forget(rt: PodRuntime): void {
    this.#killAll(rt);
    this.#network.detach(rt.network);
    this.#pods.delete(rt.uid);
    rmSync(rt.dir, { recursive: true, force: true });
  }
}

function nodeAddress(node: KubeletNode): string {
  return NODE_NETWORKS[node.name as NodeName].address;
}

function waiting(c: V1Container, reason: string): V1ContainerStatus {
  return {
    name: c.name,
    image: c.image ?? '',
    imageID: '',
    ready: false,
    restartCount: 0,
    started: false,
    state: { waiting: { reason } },
  };
}
