// The lab kubelet: registers the lab nodes, binds unscheduled pods to them, and runs pods —
// every image pulled through that node's containerd (so the node's certs.d decides where bytes
// come from); containers of the project's own image run as local `cutover` processes inside a
// private mount namespace that binds the pod's volumes at their mount paths (the ServiceAccount
// token at /var/run/secrets/kubernetes.io/serviceaccount, hostPaths at the node's directories);
// any other container is a long-running stand-in, Ready once its image is pulled.
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, mkdirSync, readFileSync, rmSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  Watch,
  type V1Container,
  type V1ContainerStatus,
  type V1Pod,
  type V1PodCondition,
} from '@kubernetes/client-node';
import { formatImageRef, parseImageRef } from '../../src/core/image-ref.ts';
import { ctr, pullOnNode, type LabNode } from '../nodes/containerd.ts';
import { KubeCluster, kubeStatus as statusOf, mergePatch } from '../../src/adapters/kube/cluster.ts';
import { heartbeat, registerNode } from './nodes.ts';
import { containerEnv, materialiseVolume, PodSpecError, type NodeHost } from './pod-spec.ts';

export interface KubeletNode extends LabNode, NodeHost {}

export interface KubeletConfig {
  kubeconfig: string;
  apiserverPort: number;
  nodes: KubeletNode[];
  /** Repository paths (after the registry host) that are the project's own image. */
  projectImageRepos: string[];
  /** Entry of the project's CLI, run with the kubelet's own Node.js. */
  cliPath: string;
  runDir: string;
}

interface ContainerRuntime {
  name: string;
  status: V1ContainerStatus;
  process?: ChildProcess | undefined;
}

interface PodRuntime {
  uid: string;
  key: string;
  pod: V1Pod;
  node: KubeletNode;
  containers: Map<string, ContainerRuntime>;
  init: Map<string, ContainerRuntime>;
  stopped: boolean;
  phase: string;
  dir: string;
}

const IMAGE_PULL_BACKOFF = [2_000, 5_000, 10_000, 20_000];
/**
 * One pull attempt's limit. A pull-through cache can leave a pull hanging (distribution#3390);
 * containerd's CRI cancels a pull that stops making progress, and so does this kubelet — the lab's
 * images are a few MB, so 20 s means stuck, and the retry below goes on.
 */
const IMAGE_PULL_TIMEOUT_MS = 20_000;

export class LabKubelet {
  readonly #config: KubeletConfig;
  readonly #kube: KubeCluster;
  readonly #pods = new Map<string, PodRuntime>();
  #roundRobin = 0;
  #stopping = false;

  constructor(config: KubeletConfig) {
    this.#config = config;
    this.#kube = KubeCluster.connect(config.kubeconfig);
  }

  async start(): Promise<void> {
    for (const node of this.#config.nodes) await registerNode(this.#kube, node.name);
    void this.#heartbeats();
    void this.#enforceEgress();
    void this.#watchPods();
    void this.#resync();
  }

  stop(): void {
    this.#stopping = true;
    for (const rt of this.#pods.values()) this.#killAll(rt);
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

  /**
   * What a CNI would do: while any default-deny egress NetworkPolicy exists (empty podSelector,
   * Egress, no rule reaching outside), the lab's upstream peers are unreachable; when the last one
   * goes, they come back. Only this loop's own cuts are undone.
   */
  async #enforceEgress(): Promise<void> {
    const { cutUpstream, restoreUpstream } = await import('../lab.ts');
    let cutByHold = false;
    while (!this.#stopping) {
      try {
        const policies = (await this.#kube.networking.listNetworkPolicyForAllNamespaces()).items;
        const hold = policies.some(
          (p) =>
            Object.keys(p.spec?.podSelector?.matchLabels ?? {}).length === 0 &&
            !p.spec?.podSelector?.matchExpressions?.length &&
            (p.spec?.policyTypes ?? []).includes('Egress'),
        );
        if (hold && !cutByHold) {
          await cutUpstream((line) => log(`egress hold: ${line}`));
          cutByHold = true;
        } else if (!hold && cutByHold) {
          await restoreUpstream((line) => log(`egress hold lifted: ${line}`));
          cutByHold = false;
        }
      } catch (error) {
        log(`egress enforcement: ${String(error)}`);
      }
      await sleep(1_000);
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

  async #reconcile(type: string, pod: V1Pod): Promise<void> {
    if (!['ADDED', 'MODIFIED', 'DELETED', 'SYNC'].includes(type) || !pod.metadata?.name || !pod.metadata.uid) return;
    const uid = pod.metadata.uid;
    const nodeName = pod.spec?.nodeName;
    const rt = this.#pods.get(uid);
    if (type === 'DELETED') {
      if (rt) this.#forget(rt);
      return;
    }
    if (!nodeName) {
      if (!pod.metadata?.deletionTimestamp && (pod.spec?.schedulerName ?? 'default-scheduler') === 'default-scheduler')
        await this.#bind(pod);
      return;
    }
    const node = this.#config.nodes.find((n) => n.name === nodeName);
    if (!node) return;
    if (pod.metadata?.deletionTimestamp) {
      if (rt) this.#killAll(rt);
      await this.#kube.core
        .deleteNamespacedPod({
          name: pod.metadata.name ?? '',
          namespace: pod.metadata.namespace ?? '',
          gracePeriodSeconds: 0,
        })
        .catch(() => undefined);
      if (rt) this.#forget(rt);
      return;
    }
    if (rt) {
      rt.pod = pod;
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
    };
    this.#pods.set(uid, runtime);
    this.#run(runtime).catch((error: unknown) =>
      log(`pod ${runtime.key}: ${error instanceof Error ? error.stack : String(error)}`),
    );
  }

  // ---------------------------------------------------------------- scheduling

  async #bind(pod: V1Pod): Promise<void> {
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
    let candidates = this.#config.nodes.map((n) => n.name);
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

  // ---------------------------------------------------------------- running a pod

  async #run(rt: PodRuntime): Promise<void> {
    const spec = rt.pod.spec;
    if (!spec) return;
    mkdirSync(rt.dir, { recursive: true });
    for (const c of spec.initContainers ?? [])
      rt.init.set(c.name, { name: c.name, status: waiting(c, 'PodInitializing') });
    for (const c of spec.containers)
      rt.containers.set(c.name, { name: c.name, status: waiting(c, 'ContainerCreating') });
    await this.#publish(rt);

    let volumes: Record<string, string>;
    try {
      volumes = {};
      for (const v of spec.volumes ?? [])
        volumes[v.name] = await materialiseVolume(this.#kube, rt.pod, v, rt.dir, rt.node);
    } catch (error) {
      const reason = error instanceof PodSpecError ? error.reason : 'CreateContainerConfigError';
      for (const c of rt.containers.values())
        c.status.state = { waiting: { reason, message: error instanceof Error ? error.message : String(error) } };
      await this.#publish(rt);
      // Like a kubelet: keep trying; the missing object may appear.
      await sleep(5_000);
      this.#pods.delete(rt.uid);
      return;
    }

    for (const c of spec.initContainers ?? []) {
      const runtime = rt.init.get(c.name) as ContainerRuntime;
      if (!(await this.#pull(rt, c, runtime))) return;
      let code = 0;
      if (this.#isProject(c.image ?? '')) code = await this.#runProcess(rt, c, runtime, volumes, true);
      else
        runtime.status = {
          ...runtime.status,
          ready: true,
          state: { terminated: { exitCode: 0, reason: 'Completed', startedAt: new Date(), finishedAt: new Date() } },
        };
      if (rt.stopped) return;
      if (code !== 0) {
        rt.phase = spec.restartPolicy === 'Never' ? 'Failed' : 'Pending';
        await this.#publish(rt);
        return;
      }
    }

    for (const c of spec.containers) {
      const runtime = rt.containers.get(c.name) as ContainerRuntime;
      if (!(await this.#pull(rt, c, runtime))) return;
    }
    rt.phase = 'Running';
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
    await this.#publish(rt);
  }

  /** Pulls through the node's containerd with back-off; false when the pod was stopped meanwhile. */
  async #pull(rt: PodRuntime, c: V1Container, runtime: ContainerRuntime): Promise<boolean> {
    const image = normaliseImage(c.image ?? '');
    const policy = c.imagePullPolicy ?? (image.endsWith(':latest') ? 'Always' : 'IfNotPresent');
    for (let attempt = 0; !rt.stopped; attempt++) {
      if (policy !== 'Always' && (await this.#present(rt.node, image))) break;
      const pulled = await pullOnNode(rt.node, image, IMAGE_PULL_TIMEOUT_MS);
      if (pulled.code === 0) break;
      const message = `Failed to pull image "${c.image}": ${pulled.stderr.trim().split('\n').at(-1) ?? ''}`;
      log(`pod ${rt.key} on ${rt.node.name}: ${message}`);
      runtime.status.state = { waiting: { reason: 'ErrImagePull', message } };
      await this.#publish(rt);
      await sleep(1_000);
      runtime.status.state = {
        waiting: { reason: 'ImagePullBackOff', message: `Back-off pulling image "${c.image}"` },
      };
      await this.#publish(rt);
      await sleep(IMAGE_PULL_BACKOFF[Math.min(attempt, IMAGE_PULL_BACKOFF.length - 1)] as number);
    }
    if (rt.stopped) return false;
    const digest = await this.#imageDigest(rt.node, image);
    runtime.status.imageID = digest ? `${image.replace(/:[^/:]+$/, '')}@${digest}` : '';
    runtime.status.state = { waiting: { reason: 'ContainerCreating' } };
    return true;
  }

  async #present(node: LabNode, image: string): Promise<boolean> {
    return (await this.#imageDigest(node, image)) !== undefined;
  }

  async #imageDigest(node: LabNode, image: string): Promise<string | undefined> {
    const listed = await ctr(node, ['images', 'ls', `name==${image}`]);
    const line = listed.stdout.split('\n').find((l) => l.startsWith(`${image} `));
    return line ? /sha256:[0-9a-f]{64}/.exec(line)?.[0] : undefined;
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
      const code = await this.#runProcess(rt, c, runtime, volumes, false);
      if (rt.stopped) return;
      const restart = policy === 'Always' || (policy === 'OnFailure' && code !== 0);
      if (!restart) break;
      runtime.status.restartCount = (runtime.status.restartCount ?? 0) + 1;
      await sleep(Math.min(10_000, 1_000 * 2 ** Math.min(runtime.status.restartCount, 4)));
    }
    const all = [...rt.containers.values()];
    const done = all.every(
      (r) =>
        r.status.state?.terminated ||
        !this.#isProject(rt.pod.spec?.containers.find((x) => x.name === r.name)?.image ?? ''),
    );
    if (done && all.every((r) => r.status.state?.terminated)) {
      rt.phase = all.every((r) => r.status.state?.terminated?.exitCode === 0) ? 'Succeeded' : 'Failed';
      await this.#publish(rt);
    }
  }

  /** Runs the project's CLI for a container; resolves its exit code. */
  async #runProcess(
    rt: PodRuntime,
    c: V1Container,
    runtime: ContainerRuntime,
    volumes: Record<string, string>,
    init: boolean,
  ): Promise<number> {
    let env: Record<string, string>;
    try {
      env = await containerEnv(this.#kube, rt.pod, c);
    } catch (error) {
      runtime.status.state = {
        waiting: {
          reason: error instanceof PodSpecError ? error.reason : 'CreateContainerConfigError',
          message: String(error instanceof Error ? error.message : error),
        },
      };
      await this.#publish(rt);
      await sleep(5_000);
      return await this.#runProcess(rt, c, runtime, volumes, init);
    }
    const args = [...(c.command ?? []), ...(c.args ?? [])];
    if (args[0] === 'cutover' || args[0] === '/usr/local/bin/cutover') args.shift();
    const mounts = (c.volumeMounts ?? []).map((m) => ({
      source: volumes[m.name] ?? '',
      target: m.mountPath,
      readOnly: m.readOnly ?? false,
    }));
    // Bind every mount inside a private mount namespace, then exec the CLI: paths are the pod's.
    const script = [
      'set -e',
      ...mounts.flatMap((m) => [
        `mkdir -p '${m.target}'`,
        `mount --bind '${m.source}' '${m.target}'`,
        ...(m.readOnly ? [`mount -o remount,ro,bind '${m.target}'`] : []),
      ]),
      'exec "$@"',
    ].join('\n');
    const workdir = join(rt.dir, 'containers', c.name);
    mkdirSync(workdir, { recursive: true });
    const logFile = join(rt.dir, `${c.name}.log`);
    const logStream = createWriteStream(logFile, { flags: 'a' });
    const child = spawn(
      'unshare',
      [
        '--mount',
        '--propagation',
        'private',
        '--',
        'sh',
        '-c',
        script,
        'sh',
        process.execPath,
        this.#config.cliPath,
        ...args,
      ],
      {
        cwd: c.workingDir && existsSync(c.workingDir) ? c.workingDir : workdir,
        env: {
          PATH: `${join(process.execPath, '..')}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin`,
          HOME: workdir,
          HOSTNAME: rt.pod.metadata?.name ?? '',
          KUBERNETES_SERVICE_HOST: '127.0.0.1',
          KUBERNETES_SERVICE_PORT: String(this.#config.apiserverPort),
          KUBERNETES_SERVICE_PORT_HTTPS: String(this.#config.apiserverPort),
          ...env,
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    child.stdout?.pipe(logStream, { end: false });
    child.stderr?.pipe(logStream, { end: false });
    runtime.process = child;
    const startedAt = new Date();
    runtime.status = { ...runtime.status, started: true, ready: !init, state: { running: { startedAt } } };
    if (!init) await this.#publish(rt);
    const code = await new Promise<number>((resolve) => {
      child.on('error', () => resolve(127));
      child.on('close', (exit, signal) => resolve(exit ?? (signal ? 137 : 1)));
    });
    // Flush the log before reading its tail into the termination message.
    await new Promise<void>((resolve) => logStream.end(resolve));
    runtime.process = undefined;
    const tail = existsSync(logFile) ? readFileSync(logFile, 'utf8').split('\n').slice(-20).join('\n').trim() : '';
    runtime.status = {
      ...runtime.status,
      ready: false,
      started: false,
      state: {
        terminated: {
          exitCode: code,
          reason: code === 0 ? 'Completed' : 'Error',
          startedAt,
          finishedAt: new Date(),
          ...(code !== 0 && tail ? { message: tail.slice(-4096) } : {}),
        },
      },
    };
    if (init) runtime.status.ready = code === 0;
    await this.#publish(rt);
    return code;
  }

  #isProject(image: string): boolean {
    const path = normaliseImage(image)
      .replace(/^[^/]+\//, '')
      .replace(/[:@].*$/, '');
    return this.#config.projectImageRepos.some((repo) => path === repo || path.endsWith(`/${repo}`));
  }

  #killAll(rt: PodRuntime): void {
    rt.stopped = true;
    for (const c of [...rt.containers.values(), ...rt.init.values()]) c.process?.kill('SIGTERM');
  }

  #forget(rt: PodRuntime): void {
    this.#killAll(rt);
    this.#pods.delete(rt.uid);
    rmSync(rt.dir, { recursive: true, force: true });
  }

  // ---------------------------------------------------------------- status

  async #publish(rt: PodRuntime): Promise<void> {
    if (rt.stopped) return;
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
      hostIP: '127.0.0.1',
      podIP: '127.0.0.1',
      podIPs: [{ ip: '127.0.0.1' }],
      startTime: rt.pod.status?.startTime ?? now,
      conditions: [
        condition('PodScheduled', true),
        condition('Initialized', initialized),
        condition('ContainersReady', ready),
        condition('Ready', ready),
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
      if (statusOf(error) === 404) this.#forget(rt);
      else log(`status ${rt.key}: ${String(error)}`);
    }
  }
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

/** `nginx` → `docker.io/library/nginx:latest`, as the kubelet and containerd name images. */
export function normaliseImage(image: string): string {
  return formatImageRef(parseImageRef(image));
}

function log(line: string): void {
  console.log(`${new Date().toISOString()} ${line}`);
}
