// Builds the lab's Go peers from their modules at the versions pinned in lab/peers/*/go.mod.
// Binaries are cached outside git (SOVEREIGN_PEERS_DIR, default ~/.cache/sovereign-cutover/peers)
// under a key made of go.mod + go.sum + build flags, so a warm machine skips the build entirely.
// The Go module and build caches are Go's own (outside the repo too).
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

export const PEERS_DIR = process.env.SOVEREIGN_PEERS_DIR ?? join(homedir(), '.cache', 'sovereign-cutover', 'peers');
const MODULES_DIR = import.meta.dirname;

interface PeerBuild {
  module: 'kubernetes' | 'flux' | 'flux-kustomize' | 'flux-helm' | 'gitea' | 'kube-network-policies' | 'kubeconform';
  binaries: Record<string, string>;
  env: Record<string, string>;
  flags: string[];
  /** What a person waiting should expect. */
  note: string;
}

const K8S_VERSION = 'v1.35.4';

/** A Flux controller: pure Go, built from its own module (github.com/fluxcd/<binary>). */
function fluxController(module: PeerBuild['module'], binary: string, note: string): PeerBuild {
  return {
    module,
    binaries: { [binary]: `github.com/fluxcd/${binary}` },
    env: { CGO_ENABLED: '0' },
    flags: ['-trimpath', '-ldflags=-s -w'],
    note,
  };
}

export const PEER_BUILDS: PeerBuild[] = [
  {
    module: 'kubernetes',
    binaries: {
      'kube-apiserver': 'k8s.io/kubernetes/cmd/kube-apiserver',
      'kube-controller-manager': 'k8s.io/kubernetes/cmd/kube-controller-manager',
    },
    env: { CGO_ENABLED: '0' },
    flags: [
      '-trimpath',
      `-ldflags=-s -w -X k8s.io/component-base/version.gitVersion=${K8S_VERSION} -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=35`,
    ],
    note: 'cold: ~15 min on 2 cores',
  },
  fluxController('flux', 'source-controller', 'cold: ~8 min on 2 cores'),
  fluxController('flux-kustomize', 'kustomize-controller', 'cold: ~3 min on 2 cores after source-controller'),
  {
    // helm-controller and the helm CLI of the same Helm library (the chart's tests use the CLI).
    ...fluxController('flux-helm', 'helm-controller', 'cold: ~4 min on 2 cores after source-controller'),
    binaries: { 'helm-controller': 'github.com/fluxcd/helm-controller', helm: 'helm.sh/helm/v3/cmd/helm' },
    flags: ['-trimpath', '-ldflags=-s -w -X helm.sh/helm/v3/internal/version.version=v3.19.0'],
  },
  {
    module: 'gitea',
    binaries: { gitea: 'code.gitea.io/gitea' },
    // Gitea's sqlite driver is cgo; its module version is absent from the checksum DB (go.sum pins it).
    env: { CGO_ENABLED: '1', GONOSUMDB: 'code.gitea.io/gitea' },
    flags: ['-trimpath', '-tags=sqlite sqlite_unlock_notify', '-ldflags=-s -w -X main.Version=1.24.6'],
    note: 'cold: ~10 min on 2 cores',
  },
  {
    // The lab network's NetworkPolicy implementation (ADR 0015); its main package is named `cmd`.
    module: 'kube-network-policies',
    binaries: { 'kube-network-policies': 'sigs.k8s.io/kube-network-policies/cmd' },
    env: { CGO_ENABLED: '0' },
    flags: ['-trimpath', '-ldflags=-s -w'],
    note: 'cold: ~2 min on 2 cores',
  },
  {
    // Validates every rendered manifest against the lab apiserver's own schemas (test/kubeconform.test.ts).
    module: 'kubeconform',
    binaries: { kubeconform: 'github.com/yannh/kubeconform/cmd/kubeconform' },
    env: { CGO_ENABLED: '0' },
    flags: ['-trimpath', '-ldflags=-s -w'],
    note: 'cold: ~1 min on 2 cores',
  },
];

function buildKey(build: PeerBuild): string {
  const dir = join(MODULES_DIR, build.module);
  const hash = createHash('sha256');
  for (const file of ['go.mod', 'go.sum']) hash.update(readFileSync(join(dir, file)));
  hash.update(JSON.stringify([build.binaries, build.env, build.flags]));
  return hash.digest('hex').slice(0, 12);
}

/** Absolute path of a built peer binary (built or not). */
export function peerBinary(module: PeerBuild['module'], binary: string): string {
  const build = PEER_BUILDS.find((b) => b.module === module);
  if (!build) throw new Error(`unknown peer module ${module}`);
  return join(PEERS_DIR, `${module}-${buildKey(build)}`, binary);
}

/** Builds every peer binary that is not in the cache yet, printing progress while Go works. */
export async function ensurePeerBinaries(log: (line: string) => void = console.log): Promise<void> {
  for (const build of PEER_BUILDS) {
    const missing = Object.keys(build.binaries).filter((b) => !existsSync(peerBinary(build.module, b)));
    if (!missing.length) {
      log(`  peers: ${Object.keys(build.binaries).join(', ')} built (cached in ${PEERS_DIR})`);
      continue;
    }
    const out = join(PEERS_DIR, `${build.module}-${buildKey(build)}`);
    const tmp = `${out}.partial`;
    rmSync(tmp, { recursive: true, force: true });
    mkdirSync(tmp, { recursive: true });
    log(`  peers: building ${missing.join(', ')} from lab/peers/${build.module} (${build.note}; cached afterwards)`);
    const started = Date.now();
    const ticker = setInterval(
      () => log(`  peers: … still building ${build.module} (${Math.round((Date.now() - started) / 1000)} s)`),
      60_000,
    );
    try {
      await go(
        join(MODULES_DIR, build.module),
        // One binary is written under its own name (a main package may be called `cmd`); several go to the folder.
        [
          'build',
          ...build.flags,
          '-o',
          missing.length === 1 ? join(tmp, missing[0] as string) : `${tmp}/`,
          ...missing.map((b) => build.binaries[b] as string),
        ],
        build.env,
      );
    } finally {
      clearInterval(ticker);
    }
    mkdirSync(out, { recursive: true });
    for (const b of missing) renameSync(join(tmp, b), join(out, b));
    rmSync(tmp, { recursive: true, force: true });
    log(`  peers: built ${missing.join(', ')} in ${Math.round((Date.now() - started) / 1000)} s`);
  }
}

function go(cwd: string, args: string[], env: Record<string, string>): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn('go', args, {
      cwd,
      env: { ...process.env, GOFLAGS: '-buildvcs=false', ...env },
      stdio: ['ignore', 'inherit', 'inherit'],
    });
    child.on('error', (error) => reject(new Error(`go is needed to build the lab peers: ${error.message}`)));
    child.on('close', (code) =>
      code === 0 ? resolve() : reject(new Error(`go ${args.slice(0, 1).join(' ')} in ${cwd} failed (exit ${code})`)),
    );
  });
}
