// Flux's source-, kustomize- and helm-controller (each built from its module) running
// out-of-cluster against the lab apiserver, with their CRDs installed from the same module
// versions: the GitOps controllers a real Sovereign runs, re-applying Git on every reconcile.
import { execFileSync } from 'node:child_process';
import { mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { peerBinary } from '../peers/build.ts';
import { httpOk, startDaemon, stopDaemon, waitUntil } from '../processes.ts';
import { LAB_DIR, PORTS } from '../topology.ts';
import { apply, readManifests } from './apply.ts';
import { ADMIN_KUBECONFIG } from './control-plane.ts';

export const FLUX_DIR = join(LAB_DIR, 'flux');

interface FluxController {
  name: 'source-controller' | 'kustomize-controller' | 'helm-controller';
  /** The lab/peers module that builds it. */
  module: 'flux' | 'flux-kustomize' | 'flux-helm';
  goModule: string;
  metricsPort: number;
  healthPort: number;
  args: string[];
}

export const FLUX_CONTROLLERS: FluxController[] = [
  {
    name: 'source-controller',
    module: 'flux',
    goModule: 'github.com/fluxcd/source-controller',
    metricsPort: PORTS.sourceControllerMetrics,
    healthPort: PORTS.sourceControllerHealth,
    // Artifacts are served to the other controllers (and the tests) from this address.
    args: [
      `--storage-path=${join(FLUX_DIR, 'storage')}`,
      `--storage-addr=127.0.0.1:${PORTS.sourceControllerStorage}`,
      `--storage-adv-addr=127.0.0.1:${PORTS.sourceControllerStorage}`,
    ],
  },
  {
    name: 'kustomize-controller',
    module: 'flux-kustomize',
    goModule: 'github.com/fluxcd/kustomize-controller',
    metricsPort: PORTS.kustomizeControllerMetrics,
    healthPort: PORTS.kustomizeControllerHealth,
    args: [],
  },
  {
    name: 'helm-controller',
    module: 'flux-helm',
    goModule: 'github.com/fluxcd/helm-controller',
    metricsPort: PORTS.helmControllerMetrics,
    healthPort: PORTS.helmControllerHealth,
    args: [],
  },
];

const daemonOf = (c: FluxController) => ({
  pidFile: join(FLUX_DIR, `${c.name}.pid`),
  logFile: join(FLUX_DIR, `${c.name}.log`),
});
export const healthURL = (c: FluxController): string => `http://127.0.0.1:${c.healthPort}/readyz`;

/** Every CRD file shipped in a controller's module (a controller refuses to start without its CRDs). */
function crdFiles(controller: FluxController): string[] {
  const dir = execFileSync('go', ['list', '-m', '-f', '{{.Dir}}', controller.goModule], {
    cwd: join(import.meta.dirname, '..', 'peers', controller.module),
    encoding: 'utf8',
  }).trim();
  const bases = join(dir, 'config', 'crd', 'bases');
  return readdirSync(bases)
    .filter((f) => f.endsWith('.yaml'))
    .map((f) => join(bases, f));
}

/** The source-controller's CRDs (GitRepository, HelmRepository, HelmChart, OCIRepository, Bucket…). */
export function fluxCrdFiles(): string[] {
  return crdFiles(FLUX_CONTROLLERS[0] as FluxController);
}

export async function startFlux(log: (line: string) => void): Promise<void> {
  await apply(
    ADMIN_KUBECONFIG,
    FLUX_CONTROLLERS.flatMap((c) => crdFiles(c)).flatMap((f) => readManifests(f)),
  );
  mkdirSync(join(FLUX_DIR, 'storage'), { recursive: true });
  for (const controller of FLUX_CONTROLLERS) {
    const daemon = daemonOf(controller);
    const state = startDaemon({
      name: controller.name,
      command: peerBinary(controller.module, controller.name),
      args: [
        '--watch-all-namespaces=true',
        '--enable-leader-election=false',
        '--log-level=info',
        `--metrics-addr=127.0.0.1:${controller.metricsPort}`,
        `--health-addr=127.0.0.1:${controller.healthPort}`,
        ...controller.args,
      ],
      env: { KUBECONFIG: ADMIN_KUBECONFIG, RUNTIME_NAMESPACE: 'flux-system', HOME: FLUX_DIR },
      ...daemon,
    });
    await waitUntil(controller.name, () => httpOk(healthURL(controller), (s) => s === 200), 60_000, daemon);
    log(`  Flux ${controller.name} (out-of-cluster): ${state}`);
  }
}

export async function stopFlux(): Promise<void> {
  for (const controller of [...FLUX_CONTROLLERS].reverse()) await stopDaemon(daemonOf(controller).pidFile);
}
