// Authors the upstream GitOps repository the lab's Sovereign was provisioned from, shaped like
// openova's: bootstrap-kit slots with OCI HelmRepositories on the ghcr stand-in, the Flux
// GitRepository, and catalyst-api whose env names the upstream repo; its last commit adds the
// lab Sovereign's cluster path and a tenant (kube/sovereign.ts `gitopsTree`), which Flux applies.
// Fixed authors and dates make the commit ids the same on every run for the same lab ports.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { CHART_ORG, CHARTS } from '../corpus/spec.ts';
import { CLUSTER_PATH, gitopsTree } from '../kube/sovereign.ts';
import { GITOPS, type Endpoints } from '../topology.ts';

export interface GitopsRepoInput {
  /** Bare repository to create, e.g. .lab/git/repos/openova-io/openova.git */
  bareDir: string;
  e: Endpoints;
}

/** Names the tree's content: a lab whose repo was authored from another tree is re-authored. */
const LAYOUT_FILE = `${CLUSTER_PATH}/LAYOUT`;

export function ensureGitopsRepo(input: GitopsRepoInput): 'created' | 'present' {
  const ghcrHost = input.e.upstreams.ghcr.host;
  const repoURL = input.e.git.repoURL;
  const tree = gitopsTree(input.e);
  const layout = createHash('sha256').update(JSON.stringify(tree)).digest('hex').slice(0, 16);
  if (
    existsSync(join(input.bareDir, 'HEAD')) &&
    refExists(input.bareDir, `refs/tags/${GITOPS.tag}`) &&
    refExists(input.bareDir, `refs/heads/${GITOPS.secondBranch}`) &&
    fileAt(input.bareDir, `${GITOPS.branch}:${LAYOUT_FILE}`) === `${layout}\n`
  ) {
    return 'present';
  }
  rmSync(input.bareDir, { recursive: true, force: true });
  mkdirSync(dirname(input.bareDir), { recursive: true });
  const work = mkdtempSync(join(tmpdir(), 'lab-gitops-'));
  try {
    const git = gitIn(work);
    git('init', '-q', '-b', GITOPS.branch);
    let day = 1;
    const commit = (message: string, files: Record<string, string>): void => {
      for (const [path, content] of Object.entries(files)) {
        mkdirSync(dirname(join(work, path)), { recursive: true });
        writeFileSync(join(work, path), content);
      }
      git('add', '-A');
      const date = `2026-05-0${day++}T08:00:00+00:00`;
      git('-c', 'user.name=Lab Author', '-c', 'user.email=lab@openova.invalid', 'commit', '-q', '-m', message, {
        GIT_AUTHOR_DATE: date,
        GIT_COMMITTER_DATE: date,
      });
    };
    const slots = CHARTS.map((c, i) => ({
      ...c,
      file: `clusters/_template/bootstrap-kit/${String(i + 1).padStart(2, '0')}-${c.name}.yaml`,
    }));
    commit('bootstrap-kit: first slots and the Flux source', {
      'README.md': '# openova (lab upstream)\n\nThe GitOps repository a Sovereign is provisioned from.\n',
      'clusters/_template/flux-system/gitrepository.yaml': gitRepository(repoURL),
      ...Object.fromEntries(slots.slice(0, 3).map((s) => [s.file, slot(s.name, s.version, ghcrHost)])),
    });
    commit(
      'bootstrap-kit: gitea, harbor and the platform',
      Object.fromEntries(slots.slice(3).map((s) => [s.file, slot(s.name, s.version, ghcrHost)])),
    );
    git('branch', GITOPS.secondBranch);
    commit('catalyst: catalyst-api', {
      'products/catalyst/catalyst-api.yaml': catalystApi(repoURL, ghcrHost),
    });
    git('tag', '-a', GITOPS.tag, '-m', `release ${GITOPS.tag}`, {
      GIT_COMMITTER_DATE: '2026-05-03T09:00:00+00:00',
      GIT_COMMITTER_NAME: 'Lab Author',
      GIT_COMMITTER_EMAIL: 'lab@openova.invalid',
    });
    commit('platform: document the tether map', {
      'platform/TETHERS.md': '# Tethers\n\nGit: upstream GitHub. Charts: ghcr. Images: mothership Harbor.\n',
    });
    commit('clusters/sovereign.lab: the Sovereign, bootstrapped by Flux, and tenant-a', {
      ...tree,
      [LAYOUT_FILE]: `${layout}\n`,
    });
    git('checkout', '-q', GITOPS.secondBranch);
    commit('release-0.1: pin chart versions', { 'clusters/_template/RELEASE': '0.1\n' });
    git('checkout', '-q', GITOPS.branch);
    execFileSync('git', ['clone', '-q', '--bare', work, input.bareDir]);
    // A served repo needs its refs advertised without a working tree.
    execFileSync('git', ['-C', input.bareDir, 'update-server-info']);
    return 'created';
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

function gitIn(dir: string) {
  return (...args: Array<string | Record<string, string>>): string => {
    const env = args.find((a): a is Record<string, string> => typeof a === 'object') ?? {};
    const argv = args.filter((a): a is string => typeof a === 'string');
    return execFileSync('git', ['-C', dir, ...argv], { env: { ...process.env, ...env }, encoding: 'utf8' });
  };
}

function fileAt(bareDir: string, spec: string): string | undefined {
  try {
    return execFileSync('git', ['-C', bareDir, 'show', spec], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    });
  } catch {
    return undefined;
  }
}

function refExists(bareDir: string, ref: string): boolean {
  try {
    execFileSync('git', ['-C', bareDir, 'rev-parse', '--verify', '-q', ref], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

function gitRepository(url: string): string {
  return `apiVersion: source.toolkit.fluxcd.io/v1
kind: GitRepository
metadata:
  name: openova
  namespace: flux-system
spec:
  interval: 1m0s
  url: ${url}
  ref:
    branch: ${GITOPS.branch}
`;
}

function slot(name: string, version: string, ghcrHost: string): string {
  return `apiVersion: source.toolkit.fluxcd.io/v1
kind: HelmRepository
metadata:
  name: ${name}
  namespace: flux-system
spec:
  type: oci
  interval: 10m0s
  url: oci://${ghcrHost}/${CHART_ORG}
  secretRef:
    name: ghcr-pull
---
apiVersion: helm.toolkit.fluxcd.io/v2
kind: HelmRelease
metadata:
  name: ${name}
  namespace: flux-system
spec:
  interval: 10m0s
  chart:
    spec:
      chart: ${name}
      version: ${version}
      sourceRef:
        kind: HelmRepository
        name: ${name}
`;
}

function catalystApi(repoURL: string, ghcrHost: string): string {
  return `apiVersion: apps/v1
kind: Deployment
metadata:
  name: catalyst-api
  namespace: catalyst-system
spec:
  replicas: 1
  selector:
    matchLabels:
      app: catalyst-api
  template:
    metadata:
      labels:
        app: catalyst-api
    spec:
      containers:
        - name: catalyst-api
          image: ${ghcrHost}/openova-io/catalyst-api:1.0.0
          env:
            - name: CATALYST_GITOPS_REPO_URL
              value: ${repoURL}
`;
}
