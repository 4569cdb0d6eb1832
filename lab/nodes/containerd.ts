// A lab node: one Debian `containerd` with its own root, state, socket and `certs.d`.
// The node's registry config is its certs.d directory, exactly as CRI's `config_path` reads it:
// every pull on the node passes it as `--hosts-dir`, so hosts.toml alone decides where bytes
// come from (docs/adr/0002-lab-nodes-containerd-hosts-dir.md).
import { execFile } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { stringify } from 'smol-toml';
import { daemonPid, startDaemon, stopDaemon, waitUntil } from '../processes.ts';

const run = promisify(execFile);

export interface LabNode {
  name: string;
  dir: string;
}

export interface MirrorRoute {
  /** `host:port` of the upstream registry as images name it. */
  upstreamHost: string;
  upstreamUrl: string;
  /** e.g. `http://203.0.113.10:15010/v2/proxy-ghcr` */
  mirrorUrl: string;
  /** The CA file containerd verifies an HTTPS upstream with (`ca` for the server). */
  upstreamCa?: string;
}

export const NODE_NAMESPACE = 'k8s.io';

export function nodePaths(node: LabNode): {
  root: string;
  state: string;
  certsDir: string;
  address: string;
  config: string;
  pidFile: string;
  logFile: string;
} {
  const address = join(node.dir, 'containerd.sock');
  if (address.length > 100)
    throw new Error(
      `containerd socket path too long for a unix socket (${address.length} > 100): ${address}; set SOVEREIGN_LAB_DIR to a shorter path`,
    );
  return {
    root: join(node.dir, 'root'),
    state: join(node.dir, 'state'),
    certsDir: join(node.dir, 'certs.d'),
    address,
    config: join(node.dir, 'config.toml'),
    pidFile: join(node.dir, 'containerd.pid'),
    logFile: join(node.dir, 'containerd.log'),
  };
}

/** The hosts.toml a tethered node carries: pulls for `upstreamHost` go to the mothership's proxy project. */
export function tetheredHostsToml(route: MirrorRoute): string {
  return stringify({
    server: route.upstreamUrl,
    ...(route.upstreamCa ? { ca: route.upstreamCa } : {}),
    host: { [route.mirrorUrl]: { capabilities: ['pull', 'resolve'], override_path: true } },
  });
}

export async function startNode(node: LabNode, routes: MirrorRoute[]): Promise<'started' | 'running'> {
  const p = nodePaths(node);
  for (const dir of [p.root, p.state, p.certsDir]) mkdirSync(dir, { recursive: true });
  if (!daemonPid(p.pidFile)) {
    // Tethered configuration is (re)written only while the node is down: a running node keeps
    // whatever its agent wrote, like a real node between reboots.
    for (const route of routes) {
      mkdirSync(join(p.certsDir, route.upstreamHost), { recursive: true });
      writeFileSync(join(p.certsDir, route.upstreamHost, 'hosts.toml'), tetheredHostsToml(route));
    }
  }
  writeFileSync(
    p.config,
    stringify({
      version: 2,
      root: p.root,
      state: p.state,
      // The lab runs no CRI: the lab kubelet pulls through this daemon with the node's hosts dir.
      disabled_plugins: ['io.containerd.grpc.v1.cri'],
      grpc: { address: p.address },
      ttrpc: { address: `${p.address}.ttrpc` },
      debug: { level: 'warn' },
      metrics: { address: '' },
    }),
  );
  const state = startDaemon({
    name: `containerd ${node.name}`,
    command: 'containerd',
    args: ['--config', p.config],
    pidFile: p.pidFile,
    logFile: p.logFile,
  });
  await waitUntil(`containerd ${node.name}`, async () => (await ctr(node, ['version'])).code === 0, 20_000, p);
  return state;
}

export async function stopNode(node: LabNode): Promise<boolean> {
  return await stopDaemon(nodePaths(node).pidFile);
}

/** Runs `ctr` against the node's daemon in the Kubernetes namespace. */
export async function ctr(
  node: LabNode,
  args: string[],
  timeoutMs = 120_000,
): Promise<{ code: number; stdout: string; stderr: string }> {
  const p = nodePaths(node);
  try {
    const { stdout, stderr } = await run('ctr', ['--address', p.address, '--namespace', NODE_NAMESPACE, ...args], {
      timeout: timeoutMs,
      maxBuffer: 16 * 1024 * 1024,
    });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code?: number; killed?: boolean; stdout?: string; stderr?: string; message: string };
    const stderr = e.killed
      ? `${e.stderr ?? ''}ctr ${args[0] ?? ''} ${args[1] ?? ''}: killed after ${timeoutMs / 1000} s`
      : (e.stderr ?? e.message);
    return { code: typeof e.code === 'number' ? e.code : 1, stdout: e.stdout ?? '', stderr };
  }
}

/** Pulls an image the way the node's kubelet would: resolved through the node's certs.d. */
export async function pullOnNode(
  node: LabNode,
  reference: string,
  timeoutMs?: number,
): Promise<{ code: number; stdout: string; stderr: string }> {
  return await ctr(node, ['images', 'pull', '--hosts-dir', nodePaths(node).certsDir, reference], timeoutMs);
}
