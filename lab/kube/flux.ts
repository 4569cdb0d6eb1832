// Flux source-controller (built from its module) running out-of-cluster against the lab
// apiserver, with its CRDs installed from the same module version.
import { execFileSync } from 'node:child_process';
import { mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { peerBinary } from '../peers/build.ts';
import { httpOk, startDaemon, stopDaemon, waitUntil } from '../processes.ts';
import { LAB_DIR, PORTS } from '../topology.ts';
import { apply, readManifests } from './apply.ts';
import { ADMIN_KUBECONFIG } from './control-plane.ts';

export const FLUX_DIR = join(LAB_DIR, 'flux');
const daemon = { pidFile: join(FLUX_DIR, 'source-controller.pid'), logFile: join(FLUX_DIR, 'source-controller.log') };

/** Every CRD file shipped in the source-controller module the lab builds (it refuses to start without all of them). */
export function fluxCrdFiles(): string[] {
  const dir = execFileSync('go', ['list', '-m', '-f', '{{.Dir}}', 'github.com/fluxcd/source-controller'], {
    cwd: join(import.meta.dirname, '..', 'peers', 'flux'),
    encoding: 'utf8',
  }).trim();
  const bases = join(dir, 'config', 'crd', 'bases');
  return readdirSync(bases)
    .filter((f) => f.endsWith('.yaml'))
    .map((f) => join(bases, f));
}

export async function startFlux(log: (line: string) => void): Promise<void> {
  await apply(
    ADMIN_KUBECONFIG,
    fluxCrdFiles().flatMap((f) => readManifests(f)),
  );
  mkdirSync(join(FLUX_DIR, 'storage'), { recursive: true });
  const state = startDaemon({
    name: 'source-controller',
    command: peerBinary('flux', 'source-controller'),
    args: [
      '--watch-all-namespaces=true',
      '--enable-leader-election=false',
      '--log-level=info',
      `--storage-path=${join(FLUX_DIR, 'storage')}`,
      `--storage-addr=127.0.0.1:${PORTS.sourceControllerStorage}`,
      `--storage-adv-addr=127.0.0.1:${PORTS.sourceControllerStorage}`,
      `--metrics-addr=127.0.0.1:${PORTS.sourceControllerMetrics}`,
      `--health-addr=127.0.0.1:${PORTS.sourceControllerHealth}`,
    ],
    env: { KUBECONFIG: ADMIN_KUBECONFIG, RUNTIME_NAMESPACE: 'flux-system', HOME: FLUX_DIR },
    ...daemon,
  });
  await waitUntil(
    'source-controller',
    () => httpOk(`http://127.0.0.1:${PORTS.sourceControllerHealth}/readyz`, (s) => s === 200),
    60_000,
    daemon,
  );
  log(`  Flux source-controller (out-of-cluster): ${state}`);
}

export async function stopFlux(): Promise<void> {
  await stopDaemon(daemon.pidFile);
}
