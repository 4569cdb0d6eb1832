// The lab kubelet as a lab daemon (main.ts): its config written from the lab's nodes — each with
// the host paths the node agent's DaemonSet mounts — and started detached, up once it has
// registered the nodes.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PROJECT_IMAGE } from '../corpus/spec.ts';
import { labNodes } from '../endpoints.ts';
import { ADMIN_KUBECONFIG, apiserverGet } from '../kube/control-plane.ts';
import { nodePaths } from '../nodes/containerd.ts';
import { daemonPid, startDaemon, stopDaemon, waitUntil } from '../processes.ts';
import type { Log } from '../timed.ts';
import { LAB_DIR, PORTS, REPO_ROOT } from '../topology.ts';
import type { KubeletConfig } from './kubelet.ts';

const kubeletDaemon = {
  dir: join(LAB_DIR, 'kubelet'),
  pidFile: join(LAB_DIR, 'kubelet', 'kubelet.pid'),
  logFile: join(LAB_DIR, 'kubelet', 'kubelet.log'),
};
export const KUBELET_LOG = kubeletDaemon.logFile;

export async function startKubelet(log: Log): Promise<void> {
  const config: KubeletConfig = {
    kubeconfig: ADMIN_KUBECONFIG,
    nodes: labNodes().map((node) => {
      const p = nodePaths(node);
      return {
        ...node,
        hostRoot: join(node.dir, 'hostfs'),
        // The paths the node agent's DaemonSet mounts, served by this node's own directories.
        hostPathMap: {
          '/etc/containerd/certs.d': p.certsDir,
          '/var/lib/rancher/k3s/agent/etc/containerd/certs.d': p.certsDir,
          '/etc/rancher/k3s': join(node.dir, 'k3s'),
        },
      };
    }),
    projectImageRepos: [PROJECT_IMAGE.repo.split('/').at(-1) as string],
    cliPath: join(REPO_ROOT, 'src', 'cli', 'main.ts'),
    runDir: kubeletDaemon.dir,
    // The console and API of a dormant install, on the port its values' publicURL names.
    forwards: [{ listenPort: PORTS.api, namespace: 'catalyst', service: 'self-sovereign-cutover-api', port: 'http' }],
  };
  mkdirSync(kubeletDaemon.dir, { recursive: true });
  writeFileSync(join(kubeletDaemon.dir, 'config.json'), JSON.stringify(config, null, 2));
  const state = startDaemon({
    name: 'lab kubelet',
    command: process.execPath,
    args: [join(import.meta.dirname, 'main.ts'), join(kubeletDaemon.dir, 'config.json')],
    ...kubeletDaemon,
  });
  await waitUntil(
    'lab kubelet nodes Ready',
    async () => (await apiserverGet('/api/v1/nodes/node-b')) === 200,
    30_000,
    kubeletDaemon,
  );
  log(`  lab kubelet (node-a, node-b): ${state}`);
}

export async function stopKubelet(): Promise<void> {
  await stopDaemon(kubeletDaemon.pidFile);
}

export function kubeletRunning(): boolean {
  return daemonPid(kubeletDaemon.pidFile) !== undefined;
}
