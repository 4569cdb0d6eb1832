// The lab: a tethered Sovereign's world made of real peers on 127.0.0.1.
// `up` is idempotent (a running peer is left alone, seeded content is checked, not redone).
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { HarborApi } from '../src/adapters/harbor/harbor-api.ts';
import { seedCorpus } from './corpus/seed.ts';
import { PROJECT_IMAGE, type CorpusSize, type UpstreamName } from './corpus/spec.ts';
import { ensureGitopsRepo } from './git/gitops-repo.ts';
import { GITEA_ADMIN, GITEA_URL, startGitea, stopGitea } from './gitea/gitea.ts';
import { apply } from './kube/apply.ts';
import {
  ADMIN_KUBECONFIG,
  APISERVER_URL,
  apiserverGet,
  startControlPlane,
  stopControlPlane,
} from './kube/control-plane.ts';
import { startFlux, stopFlux } from './kube/flux.ts';
import { sovereignObjects, sovereignValues } from './kube/sovereign.ts';
import type { KubeletConfig } from './kubelet/kubelet.ts';
import { ensurePeerBinaries } from './peers/build.ts';
import type { HarborDoubleConfig } from './harbor/server.ts';
import type { LabOidcConfig } from './oidc/provider.ts';
import { nodePaths, NODE_NAMESPACE, startNode, stopNode, tetheredHostsToml, type LabNode } from './nodes/containerd.ts';
import { ensurePackages } from './packages.ts';
import { daemonPid, httpOk, startDaemon, stopDaemon, waitUntil, withLock } from './processes.ts';
import { registryUrl, startRegistry, stopRegistry, type RegistryInstance } from './registry.ts';
import {
  ENDPOINTS_FILE,
  GITOPS,
  HARBOR_ADMIN,
  HARBOR_SWAGGER,
  LAB_DIR,
  MOTHERSHIP_ADMIN,
  MOTHERSHIP_PROXY_PROJECTS,
  NODES,
  OIDC_CLIENT,
  OIDC_USERS,
  API_PORTS,
  PORTS,
  REPO_ROOT,
  UPSTREAMS,
  type Endpoints,
} from './topology.ts';

type Log = (line: string) => void;

const UPSTREAM_NAMES = Object.keys(UPSTREAMS) as UpstreamName[];
const CUT_MARKER = join(LAB_DIR, 'upstream-cut');
const VALUES_FILE = join(LAB_DIR, 'values.yaml');
const GITEA_TOKEN_FILE = join(LAB_DIR, 'gitea', 'admin-token');
const kubeletDaemon = {
  dir: join(LAB_DIR, 'kubelet'),
  pidFile: join(LAB_DIR, 'kubelet', 'kubelet.pid'),
  logFile: join(LAB_DIR, 'kubelet', 'kubelet.log'),
};

function upstreamRegistry(name: UpstreamName): RegistryInstance {
  return { name, port: UPSTREAMS[name].port, dir: join(LAB_DIR, 'upstreams', name) };
}

const host = (port: number): string => `127.0.0.1:${port}`;
const GIT_ROOT = join(LAB_DIR, 'git', 'repos');
const gitDaemon = {
  name: 'upstream git',
  command: process.execPath,
  args: [join(import.meta.dirname, 'git', 'main.ts'), GIT_ROOT, String(PORTS.git)],
  pidFile: join(LAB_DIR, 'git', 'git.pid'),
  logFile: join(LAB_DIR, 'git', 'git.log'),
};
const harbors = {
  mothership: { name: 'mothership', port: PORTS.mothership, storePort: PORTS.mothershipStore, admin: MOTHERSHIP_ADMIN },
  local: { name: 'local-harbor', port: PORTS.localHarbor, storePort: PORTS.localHarborStore, admin: HARBOR_ADMIN },
};
type HarborName = keyof typeof harbors;

function harborDir(name: HarborName): string {
  return join(LAB_DIR, 'harbor', harbors[name].name);
}

export function labNodes(): LabNode[] {
  return NODES.map((name) => ({ name, dir: join(LAB_DIR, 'nodes', name) }));
}

export function endpoints(): Endpoints {
  const upstreams = Object.fromEntries(
    UPSTREAM_NAMES.map((n) => [
      n,
      { url: registryUrl(upstreamRegistry(n)), host: host(UPSTREAMS[n].port), standsFor: UPSTREAMS[n].standsFor },
    ]),
  ) as Endpoints['upstreams'];
  const gitUrl = `http://${host(PORTS.git)}`;
  return {
    upstreams,
    git: {
      url: gitUrl,
      repoURL: `${gitUrl}/${GITOPS.org}/${GITOPS.repo}.git`,
      branch: GITOPS.branch,
      secondBranch: GITOPS.secondBranch,
      tag: GITOPS.tag,
    },
    mothership: {
      url: `http://${host(PORTS.mothership)}`,
      host: host(PORTS.mothership),
      ...MOTHERSHIP_ADMIN,
      proxyProjects: MOTHERSHIP_PROXY_PROJECTS,
    },
    localHarbor: { url: `http://${host(PORTS.localHarbor)}`, host: host(PORTS.localHarbor), ...HARBOR_ADMIN },
    nodes: Object.fromEntries(
      labNodes().map((node) => {
        const p = nodePaths(node);
        return [node.name, { address: p.address, namespace: NODE_NAMESPACE, certsDir: p.certsDir, root: p.root }];
      }),
    ) as Endpoints['nodes'],
    kube: { apiserver: APISERVER_URL, kubeconfig: ADMIN_KUBECONFIG },
    gitea: {
      url: GITEA_URL,
      username: GITEA_ADMIN.username,
      password: GITEA_ADMIN.password,
      token: existsSync(GITEA_TOKEN_FILE) ? readFileSync(GITEA_TOKEN_FILE, 'utf8').trim() : '',
    },
    oidc: { issuer: OIDC_ISSUER, ...OIDC_CLIENT, users: OIDC_USERS },
    valuesFile: VALUES_FILE,
    upstreamCut: existsSync(CUT_MARKER),
  };
}

async function timed(log: Log, what: string, work: () => Promise<string | void>): Promise<void> {
  const started = performance.now();
  const detail = await work();
  log(`  ${what}: ${detail ?? 'ok'} (${((performance.now() - started) / 1000).toFixed(1)} s)`);
}

// ------------------------------------------------------------------ upstream peers

async function startUpstreams(log: Log, corpus: CorpusSize): Promise<void> {
  for (const name of UPSTREAM_NAMES) {
    await timed(
      log,
      `upstream registry ${name} (stands for ${UPSTREAMS[name].standsFor}) on ${host(UPSTREAMS[name].port)}`,
      () => startRegistry(upstreamRegistry(name)),
    );
  }
  const registries = Object.fromEntries(UPSTREAM_NAMES.map((n) => [n, registryUrl(upstreamRegistry(n))])) as Record<
    UpstreamName,
    string
  >;
  await seedCorpus(corpus, registries, join(LAB_DIR, `corpus-${corpus}.json`), log);
  const e = endpoints();
  await timed(log, 'upstream GitOps repo', async () =>
    ensureGitopsRepo({
      bareDir: join(GIT_ROOT, GITOPS.org, `${GITOPS.repo}.git`),
      ghcrHost: e.upstreams.ghcr.host,
      repoURL: e.git.repoURL,
    }),
  );
  await timed(log, `upstream git (git http-backend) on ${host(PORTS.git)}`, async () => {
    const state = startDaemon(gitDaemon);
    await waitUntil(
      'upstream git',
      () => httpOk(`${e.git.repoURL}/info/refs?service=git-upload-pack`, (s) => s === 200),
      10_000,
      gitDaemon,
    );
    return state;
  });
  await startHarbor('mothership', log);
  await provisionMothership(log);
}

async function stopUpstreams(): Promise<void> {
  await stopHarbor('mothership');
  await stopDaemon(gitDaemon.pidFile, gitDaemon);
  for (const name of UPSTREAM_NAMES) await stopRegistry(upstreamRegistry(name));
}

// ------------------------------------------------------------------ Harbor doubles

async function startHarbor(name: HarborName, log: Log): Promise<void> {
  const h = harbors[name];
  const dir = harborDir(name);
  mkdirSync(dir, { recursive: true });
  const config: HarborDoubleConfig = {
    name: h.name,
    port: h.port,
    stateDir: dir,
    storePort: h.storePort,
    admin: h.admin,
    swaggerPath: HARBOR_SWAGGER,
  };
  writeFileSync(join(dir, 'config.json'), JSON.stringify(config, null, 2));
  const daemon = harborDaemon(name);
  await timed(log, `${h.name} Harbor (API double over docker-registry) on ${host(h.port)}`, async () => {
    const state = startDaemon(daemon);
    await waitUntil(
      `${h.name} Harbor`,
      () => httpOk(`http://${host(h.port)}/api/v2.0/ping`, (s) => s === 200),
      20_000,
      daemon,
    );
    return state;
  });
}

function harborDaemon(name: HarborName) {
  const dir = harborDir(name);
  return {
    name: harbors[name].name,
    command: process.execPath,
    args: [join(import.meta.dirname, 'harbor', 'main.ts'), join(dir, 'config.json')],
    pidFile: join(dir, 'harbor.pid'),
    logFile: join(dir, 'harbor.log'),
  };
}

async function stopHarbor(name: HarborName): Promise<void> {
  const daemon = harborDaemon(name);
  await stopDaemon(daemon.pidFile, daemon);
}

/** The vendor Harbor every tethered node pulls through: one proxy-cache project per upstream. */
async function provisionMothership(log: Log): Promise<void> {
  const e = endpoints();
  const harbor = new HarborApi(e.mothership.url, MOTHERSHIP_ADMIN);
  for (const upstream of UPSTREAM_NAMES) {
    const project = MOTHERSHIP_PROXY_PROJECTS[upstream];
    const registryName = `${project}-upstream`;
    await harbor.createRegistry({ name: registryName, type: 'docker-registry', url: e.upstreams[upstream].url });
    const registry = await harbor.registryByName(registryName);
    if (!registry) throw new Error(`mothership: registry ${registryName} not found after create`);
    await harbor.createProject(project, registry.id);
  }
  log(`  mothership proxy projects: ${Object.values(MOTHERSHIP_PROXY_PROJECTS).join(', ')}`);
}

// ------------------------------------------------------------------ lab kubelet

export async function startKubelet(log: Log): Promise<void> {
  const config: KubeletConfig = {
    kubeconfig: ADMIN_KUBECONFIG,
    apiserverPort: PORTS.apiserver,
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
  };
  mkdirSync(kubeletDaemon.dir, { recursive: true });
  writeFileSync(join(kubeletDaemon.dir, 'config.json'), JSON.stringify(config, null, 2));
  const state = startDaemon({
    name: 'lab kubelet',
    command: process.execPath,
    args: [join(import.meta.dirname, 'kubelet', 'main.ts'), join(kubeletDaemon.dir, 'config.json')],
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

// ------------------------------------------------------------------ identity provider

const oidcDaemon = {
  name: 'lab OIDC provider',
  dir: join(LAB_DIR, 'oidc'),
  pidFile: join(LAB_DIR, 'oidc', 'oidc.pid'),
  logFile: join(LAB_DIR, 'oidc', 'oidc.log'),
};
const OIDC_ISSUER = `http://127.0.0.1:${PORTS.oidc}`;

async function startOidc(log: Log): Promise<void> {
  const config: LabOidcConfig = {
    port: PORTS.oidc,
    ...OIDC_CLIENT,
    redirectURIs: API_PORTS.flatMap((port) => [
      `http://127.0.0.1:${port}/auth/callback`,
      `http://localhost:${port}/auth/callback`,
    ]),
    users: OIDC_USERS,
    cookieKey: 'lab-oidc-cookie-key',
  };
  mkdirSync(oidcDaemon.dir, { recursive: true });
  writeFileSync(join(oidcDaemon.dir, 'config.json'), JSON.stringify(config, null, 2));
  const state = startDaemon({
    ...oidcDaemon,
    command: process.execPath,
    args: [join(import.meta.dirname, 'oidc', 'main.ts'), join(oidcDaemon.dir, 'config.json')],
  });
  await waitUntil(
    'lab OIDC provider',
    () => httpOk(`${OIDC_ISSUER}/.well-known/openid-configuration`, (s) => s === 200),
    20_000,
    oidcDaemon,
  );
  log(`  lab OIDC provider ${OIDC_ISSUER}: ${state}`);
}

// ------------------------------------------------------------------ lifecycle

export async function up(log: Log = console.log, corpus: CorpusSize = 'small'): Promise<Endpoints> {
  const started = performance.now();
  log(`lab up → ${LAB_DIR}`);
  ensurePackages(undefined, log);
  mkdirSync(LAB_DIR, { recursive: true });
  await withLock(UPSTREAM_LOCK, async () => {
    rmSync(CUT_MARKER, { force: true });
    await startUpstreams(log, corpus);
  });
  await startHarbor('local', log);
  const e = endpoints();
  const routes = UPSTREAM_NAMES.map((u) => ({
    upstreamHost: e.upstreams[u].host,
    upstreamUrl: e.upstreams[u].url,
    mirrorUrl: `${e.mothership.url}/v2/${MOTHERSHIP_PROXY_PROJECTS[u]}`,
  }));
  for (const node of labNodes())
    await timed(log, `${node.name} (containerd, certs.d → mothership)`, () => startNode(node, routes));
  await ensurePeerBinaries(log);
  await startControlPlane(log);
  await startKubelet(log);
  await startFlux(log);
  await startGitea(log);
  await startOidc(log);
  await timed(log, 'seeded tethered Sovereign (namespaces, Flux sources, workloads, secrets)', async () => {
    const ready = endpoints();
    const input = {
      e: ready,
      gitea: { url: GITEA_URL, username: GITEA_ADMIN.username, password: GITEA_ADMIN.password },
    };
    await apply(ADMIN_KUBECONFIG, sovereignObjects(input));
    writeFileSync(VALUES_FILE, sovereignValues(input));
    return `applied; values in ${VALUES_FILE}`;
  });
  writeFileSync(ENDPOINTS_FILE, JSON.stringify(endpoints(), null, 2));
  log(`lab is up in ${((performance.now() - started) / 1000).toFixed(1)} s; endpoints in ${ENDPOINTS_FILE}`);
  return e;
}

export async function down(log: Log = console.log): Promise<void> {
  await stopDaemon(oidcDaemon.pidFile);
  await stopGitea();
  await stopFlux();
  await stopDaemon(kubeletDaemon.pidFile);
  await stopControlPlane();
  for (const node of labNodes()) await stopNode(node);
  await stopHarbor('local');
  await stopUpstreams();
  rmSync(CUT_MARKER, { force: true });
  log('lab is down (state kept in .lab; delete it for a fresh lab)');
}

/** Makes every upstream peer (registries, Git, mothership) unreachable; local peers stay up. */
// Tests, the lab kubelet (egress enforcement) and `lab` commands may cut or restore at once.
const UPSTREAM_LOCK = join(LAB_DIR, 'run', 'upstream.lock');

export async function cutUpstream(log: Log = console.log): Promise<void> {
  await withLock(UPSTREAM_LOCK, async () => {
    writeFileSync(CUT_MARKER, new Date().toISOString());
    await stopUpstreams();
    writeFileSync(ENDPOINTS_FILE, JSON.stringify(endpoints(), null, 2));
  });
  log('upstream cut: ghcr/docker/quay stand-ins, upstream git and the mothership Harbor are unreachable');
}

export async function restoreUpstream(log: Log = console.log): Promise<void> {
  await withLock(UPSTREAM_LOCK, async () => {
    await startUpstreams(log, 'small');
    rmSync(CUT_MARKER, { force: true });
    writeFileSync(ENDPOINTS_FILE, JSON.stringify(endpoints(), null, 2));
  });
  log('upstream restored');
}

/**
 * Puts the lab's Sovereign back to tethered after a cutover ran on it: seeded objects re-applied
 * (the lab's field manager takes its values back), the cutover's own objects in `catalyst` removed,
 * and every node's certs.d tethered to the mothership again.
 */
export async function resetSovereign(log: Log = console.log): Promise<void> {
  const e = endpoints();
  const input = { e, gitea: { url: GITEA_URL, username: GITEA_ADMIN.username, password: GITEA_ADMIN.password } };
  const { KubeCluster, mergePatch } = await import('../src/adapters/kube/cluster.ts');
  const cluster = KubeCluster.connect(ADMIN_KUBECONFIG);
  const ns = 'catalyst';
  const quiet = () => undefined;
  await cluster.apps.deleteNamespacedDaemonSet({ name: 'registry-pivot', namespace: ns }).catch(quiet);
  // A dormant install (`cutover render` applied by the demo or a test): its API, step ConfigMaps and Jobs.
  await cluster.apps
    .deleteNamespacedDeployment({ name: 'self-sovereign-cutover-api', namespace: ns, propagationPolicy: 'Background' })
    .catch(quiet);
  await cluster.batch
    .deleteCollectionNamespacedJob({
      namespace: ns,
      labelSelector: 'app.kubernetes.io/component=cutover-job',
      propagationPolicy: 'Background',
    })
    .catch(quiet);
  await cluster.core
    .deleteCollectionNamespacedConfigMap({ namespace: ns, labelSelector: 'app.kubernetes.io/component=cutover-step' })
    .catch(quiet);
  await cluster.core
    .deleteCollectionNamespacedPod({
      namespace: ns,
      labelSelector: 'app.kubernetes.io/part-of=self-sovereign-cutover',
      gracePeriodSeconds: 0,
    })
    .catch(quiet);
  for (const name of ['self-sovereign-cutover-status', 'registry-pivot-config'])
    await cluster.core.deleteNamespacedConfigMap({ name, namespace: ns }).catch(quiet);
  await cluster.coordination.deleteNamespacedLease({ name: 'self-sovereign-cutover', namespace: ns }).catch(quiet);
  for (const h of (
    await cluster.networking.listNetworkPolicyForAllNamespaces({
      labelSelector: 'app.kubernetes.io/component=cutover-egress-hold',
    })
  ).items) {
    await cluster.networking
      .deleteNamespacedNetworkPolicy({ name: h.metadata?.name ?? '', namespace: h.metadata?.namespace ?? '' })
      .catch(quiet);
  }
  // What step 05 adds for a Gitea that needs auth: the credential Secret and the GitRepository's reference to it.
  await cluster.core
    .deleteCollectionNamespacedSecret({
      namespace: 'flux-system',
      labelSelector: 'app.kubernetes.io/part-of=self-sovereign-cutover',
    })
    .catch(quiet);
  await cluster.custom
    .patchNamespacedCustomObject(
      {
        group: 'source.toolkit.fluxcd.io',
        version: 'v1',
        plural: 'gitrepositories',
        namespace: 'flux-system',
        name: GITOPS.repo,
        body: { spec: { secretRef: null } },
      },
      mergePatch,
    )
    .catch(quiet);
  await apply(ADMIN_KUBECONFIG, sovereignObjects(input));
  // The API of an install binds the lab's API port: wait until its pod is gone.
  await waitUntil(
    'the cutover API pod to go',
    async () =>
      (
        await cluster.core.listNamespacedPod({
          namespace: ns,
          labelSelector: 'app.kubernetes.io/component=cutover-api',
        })
      ).items.length === 0,
    60_000,
  );
  for (const node of labNodes()) {
    for (const u of UPSTREAM_NAMES) {
      const dir = join(nodePaths(node).certsDir, e.upstreams[u].host);
      rmSync(join(dir, 'hosts.toml.pre-cutover'), { force: true });
      rmSync(join(dir, 'hosts.toml.pre-cutover.none'), { force: true });
      writeFileSync(
        join(dir, 'hosts.toml'),
        tetheredHostsToml({
          upstreamHost: e.upstreams[u].host,
          upstreamUrl: e.upstreams[u].url,
          mirrorUrl: `${e.mothership.url}/v2/${MOTHERSHIP_PROXY_PROJECTS[u]}`,
        }),
      );
    }
  }
  log('lab Sovereign reset to tethered');
}

/**
 * Applies the dormant install (`cutover render` of the lab's values, or `valuesText`) to the lab's
 * `catalyst` namespace, as an operator would, and waits for its API — run by the lab kubelet —
 * to answer. Returns the console's URL.
 */
export async function installCutover(
  log: Log = console.log,
  valuesText = readFileSync(VALUES_FILE, 'utf8'),
): Promise<string> {
  const { parseValues } = await import('../src/core/values.ts');
  const { render } = await import('../src/render/render.ts');
  const { serverSideApply } = await import('../src/adapters/kube/apply.ts');
  const { KubeConfig } = await import('@kubernetes/client-node');
  const config = new KubeConfig();
  config.loadFromFile(ADMIN_KUBECONFIG);
  const values = parseValues(valuesText);
  await serverSideApply(config, render(values, { namespace: 'catalyst', valuesText, version: '0.1.0' }), 'operator');
  const url = `http://127.0.0.1:${values.api.port}`;
  await waitUntil('the in-cluster cutover API', () => httpOk(`${url}/healthz`, (s) => s === 200), 90_000);
  log(`dormant install applied to catalyst; its API and console answer on ${url}/`);
  return `${url}/`;
}

export interface PeerStatus {
  peer: string;
  url: string;
  up: boolean;
  role: 'upstream' | 'local';
}

export async function status(): Promise<PeerStatus[]> {
  const e = endpoints();
  const peers: PeerStatus[] = [];
  for (const name of UPSTREAM_NAMES) {
    peers.push({
      peer: `upstream registry ${name} (${e.upstreams[name].standsFor})`,
      url: e.upstreams[name].url,
      up: await httpOk(`${e.upstreams[name].url}/v2/`, (s) => s === 200),
      role: 'upstream',
    });
  }
  peers.push({
    peer: 'upstream git',
    url: e.git.repoURL,
    up: await httpOk(`${e.git.repoURL}/info/refs?service=git-upload-pack`, (s) => s === 200),
    role: 'upstream',
  });
  peers.push({
    peer: 'mothership Harbor (double)',
    url: e.mothership.url,
    up: await httpOk(`${e.mothership.url}/api/v2.0/ping`, (s) => s === 200),
    role: 'upstream',
  });
  peers.push({
    peer: 'local Harbor (double)',
    url: e.localHarbor.url,
    up: await httpOk(`${e.localHarbor.url}/api/v2.0/ping`, (s) => s === 200),
    role: 'local',
  });
  peers.push({
    peer: 'kube-apiserver',
    url: APISERVER_URL,
    up: (await apiserverGet('/readyz')) === 200,
    role: 'local',
  });
  peers.push({
    peer: 'lab kubelet (node-a, node-b)',
    url: kubeletDaemon.logFile,
    up: daemonPid(kubeletDaemon.pidFile) !== undefined,
    role: 'local',
  });
  peers.push({
    peer: 'Flux source-controller',
    url: `http://127.0.0.1:${PORTS.sourceControllerHealth}/readyz`,
    up: await httpOk(`http://127.0.0.1:${PORTS.sourceControllerHealth}/readyz`, (s) => s === 200),
    role: 'local',
  });
  peers.push({
    peer: 'lab OIDC provider',
    url: OIDC_ISSUER,
    up: await httpOk(`${OIDC_ISSUER}/.well-known/openid-configuration`, (s) => s === 200),
    role: 'local',
  });
  peers.push({
    peer: 'Gitea',
    url: GITEA_URL,
    up: await httpOk(`${GITEA_URL}/api/v1/version`, (s) => s === 200),
    role: 'local',
  });
  for (const node of labNodes()) {
    peers.push({
      peer: `${node.name} containerd`,
      url: `unix://${nodePaths(node).address}`,
      up: daemonPid(nodePaths(node).pidFile) !== undefined,
      role: 'local',
    });
  }
  return peers;
}
