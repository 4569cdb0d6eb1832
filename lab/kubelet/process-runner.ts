// Runs a container of the project's own image as a local `cutover` process (the kubelet's own
// Node.js) in the pod's network namespace: the pod's env, its volumes bound at their mount paths inside a private mount namespace,
// its securityContext enforced (user and group, a read-only root filesystem, no capabilities, no new
// privileges; seccomp is not), the log's tail as the termination message when the container asks for
// it (FallbackToLogsOnError).
import { spawn } from 'node:child_process';
import { createWriteStream, existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { V1Container } from '@kubernetes/client-node';
import type { KubeCluster } from '../../src/adapters/kube/cluster.ts';
import { containerEnv, containerSecurity, PodSpecError, type ContainerSecurity } from './pod-spec.ts';
import type { ContainerRuntime, PodRuntime } from './pod-runtime.ts';
import { NET } from '../topology.ts';
import { PodNetwork } from './pod-network.ts';
import type { StatusPublisher } from './status-publisher.ts';

export interface ProcessRunnerConfig {
  /** Entry of the project's CLI, run with the kubelet's own Node.js. */
  cliPath: string;
}

export class ProcessRunner {
  readonly #config: ProcessRunnerConfig;
  readonly #kube: KubeCluster;
  readonly #status: StatusPublisher;

  constructor(kube: KubeCluster, config: ProcessRunnerConfig, status: StatusPublisher) {
    this.#kube = kube;
    this.#config = config;
    this.#status = status;
  }

  /** Runs the project's CLI for a container; resolves its exit code. */
  async run(
    rt: PodRuntime,
    c: V1Container,
    runtime: ContainerRuntime,
    volumes: Record<string, string>,
    init: boolean,
  ): Promise<number> {
    let env: Record<string, string>;
    let security: ContainerSecurity;
    try {
      security = containerSecurity(rt.pod, c);
      env = await containerEnv(this.#kube, rt.pod, c);
    } catch (error) {
      runtime.status.state = {
        waiting: {
          reason: error instanceof PodSpecError ? error.reason : 'CreateContainerConfigError',
          message: String(error instanceof Error ? error.message : error),
        },
      };
      await this.#status.publish(rt);
      await sleep(5_000);
      return await this.run(rt, c, runtime, volumes, init);
    }
    const args = [...(c.command ?? []), ...(c.args ?? [])];
    if (args[0] === 'cutover' || args[0] === '/usr/local/bin/cutover') args.shift();
    const mounts = (c.volumeMounts ?? []).map((m) => ({
      source: volumes[m.name] ?? '',
      target: m.mountPath,
      readOnly: m.readOnly ?? false,
    }));
    // Bind every mount inside a private mount namespace, make the root read-only if asked (the
    // volumes stay as mounted), then exec the CLI as the container's user: paths are the pod's.
    const script = [
      'set -e',
      ...mounts.flatMap((m) => [
        `mkdir -p '${m.target}'`,
        `mount --bind '${m.source}' '${m.target}'`,
        ...(m.readOnly ? [`mount -o remount,ro,bind '${m.target}'`] : []),
      ]),
      ...(security.readOnlyRoot ? ['mount -o remount,ro,bind /'] : []),
      `exec ${dropPrivileges(security)} "$@"`,
    ].join('\n');
    const workdir = join(rt.dir, 'containers', c.name);
    mkdirSync(workdir, { recursive: true });
    const logFile = join(rt.dir, `${c.name}.log`);
    const logStream = createWriteStream(logFile, { flags: 'a' });
    const child = spawn(
      'nsenter',
      [
        `--net=${PodNetwork.path(rt.network)}`,
        'unshare',
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
          // As kubelet does: the `kubernetes` Service, which the node translates to the apiserver.
          KUBERNETES_SERVICE_HOST: NET.kubernetesServiceIP,
          KUBERNETES_SERVICE_PORT: '443',
          KUBERNETES_SERVICE_PORT_HTTPS: '443',
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
    if (!init) await this.#status.publish(rt);
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
          // As a kubelet: with FallbackToLogsOnError a failed container's log tail; with the default
          // policy (File) the CLI writes no /dev/termination-log, so no message.
          ...(code !== 0 && tail && c.terminationMessagePolicy === 'FallbackToLogsOnError'
            ? { message: tail.slice(-4096) }
            : {}),
        },
      },
    };
    if (init) runtime.status.ready = code === 0;
    await this.#status.publish(rt);
    return code;
  }
}

/** The `setpriv` prefix that runs the process as the container's user without what it dropped. */
function dropPrivileges(s: ContainerSecurity): string {
  const flags = [
    ...(s.uid !== 0 || s.gid !== 0 ? [`--reuid=${s.uid}`, `--regid=${s.gid}`, '--clear-groups'] : []),
    ...(s.dropAllCapabilities ? ['--bounding-set=-all', '--inh-caps=-all'] : []),
    ...(s.noNewPrivileges ? ['--no-new-privs'] : []),
  ];
  return flags.length ? `setpriv ${flags.join(' ')} --` : '';
}
