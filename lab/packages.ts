// Debian packages the lab's peers come from. Installed once, idempotently: a package whose
// program is already on the PATH is skipped, and `apt-get update` runs only when needed.
import { execFileSync, spawnSync } from 'node:child_process';

/** program on PATH → the Debian package that provides it */
export const LAB_PACKAGES: Record<string, string> = {
  'docker-registry': 'docker-registry',
  containerd: 'containerd',
  ctr: 'containerd',
  git: 'git',
  etcd: 'etcd-server',
  openssl: 'openssl',
  unshare: 'util-linux',
  nsenter: 'util-linux',
  setpriv: 'util-linux',
  // The lab network: bridges and pods' namespaces (iproute2), the policy queue and Service translation (iptables, nft backend).
  ip: 'iproute2',
  iptables: 'iptables',
  nft: 'nftables',
  // The console test drives a real headless browser (playwright-core over Debian's Chromium).
  chromium: 'chromium',
  // `cutover completion zsh` is tested in a real zsh (bash is already there).
  zsh: 'zsh',
};

export function missingPackages(programs: Record<string, string> = LAB_PACKAGES): string[] {
  const missing = new Set<string>();
  for (const [program, pkg] of Object.entries(programs)) {
    if (spawnSync('sh', ['-c', `command -v ${program}`], { stdio: 'ignore' }).status !== 0) missing.add(pkg);
  }
  return [...missing];
}

export function ensurePackages(
  programs: Record<string, string> = LAB_PACKAGES,
  log: (line: string) => void = console.log,
): void {
  const missing = missingPackages(programs);
  if (!missing.length) {
    log(`  packages: ${[...new Set(Object.values(programs))].join(', ')} already installed`);
    return;
  }
  if (process.getuid?.() !== 0)
    throw new Error(
      `the lab needs Debian packages ${missing.join(', ')}; install them as root: apt-get install -y ${missing.join(' ')}`,
    );
  log(`  packages: installing ${missing.join(', ')} (apt-get)`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  execFileSync('apt-get', ['update', '-q'], { stdio: 'inherit', env });
  execFileSync('apt-get', ['install', '-y', '-q', '--no-install-recommends', ...missing], { stdio: 'inherit', env });
}
