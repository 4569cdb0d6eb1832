// The lab: a tethered Sovereign's world made of real peers on the lab network, brought up and down here;
// each peer starts and stops in its own module, the upstream peers in upstream.ts.
// `up` is idempotent (a running peer is left alone, seeded content is checked, not redone).
import { PEERS_CA, trustPeersCa } from './peers-pki.ts';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { CorpusSize, UpstreamName } from './corpus/spec.ts';
import { CUT_MARKER, endpoints, labNodes, UPSTREAM_NAMES, VALUES_FILE } from './endpoints.ts';
import { GITEA_ADMIN, GITEA_URL, startGitea, stopGitea } from './gitea/gitea.ts';
import { startHarbor, stopHarbor } from './harbor/harbor.ts';
import {
  ADMIN_KUBECONFIG,
  APISERVER_URL,
  apiserverGet,
  startControlPlane,
  stopControlPlane,
} from './kube/control-plane.ts';
import { FLUX_CONTROLLERS, healthURL, startFlux, stopFlux } from './kube/flux.ts';
import { bootstrap, removeCutoverPatches } from './kube/bootstrap.ts';
import { bootstrapObjects, KUSTOMIZATIONS, sovereignValues, TENANT } from './kube/sovereign.ts';
import { KUBELET_LOG, kubeletRunning, startKubelet, stopKubelet } from './kubelet/daemon.ts';
import { nodePaths, startNode, stopNode, tetheredHostsToml, type MirrorRoute } from './nodes/containerd.ts';
import { OIDC_ISSUER, startOidc, stopOidc } from './oidc/oidc.ts';
import { ensureLabNetwork, policyEnforced, removeLabNetwork, setPolicyEnforcement } from './network/host-network.ts';
import {
  NETWORK_POLICIES_LOG,
  networkPoliciesRunning,
  startNetworkPolicies,
  stopNetworkPolicies,
} from './network/network-policies.ts';
import { ensurePackages } from './packages.ts';
import { ensurePeerBinaries } from './peers/build.ts';
import { daemonPid, httpOk, waitUntil, withLock } from './processes.ts';
import { timed, type Log } from './timed.ts';
import { ENDPOINTS_FILE, GITOPS, LAB_DIR, MOTHERSHIP_PROXY_PROJECTS, type Endpoints } from './topology.ts';
import { startUpstreams, stopUpstreams, UPSTREAM_LOCK } from './upstream.ts';

// The lab's API as tests, scripts and `lab` commands import it.
export { labNodes } from './endpoints.ts';
export { cutUpstream, restoreUpstream } from './upstream.ts';
export { policyEnforced, setPolicyEnforcement } from './network/host-network.ts';

export async function up(log: Log = console.log, corpus: CorpusSize = 'small'): Promise<Endpoints> {
  const started = performance.now();
  log(`lab up → ${LAB_DIR}`);
  ensurePackages(undefined, log);
  mkdirSync(LAB_DIR, { recursive: true });
  await timed(log, 'lab network', async () => {
    const made = ensureLabNetwork();
    setPolicyEnforcement(true);
    return made;
  });
  await withLock(UPSTREAM_LOCK, async () => {
    rmSync(CUT_MARKER, { force: true });
    await startUpstreams(log, corpus);
  });
  await startHarbor('local', log);
  const e = endpoints();
  const routes = UPSTREAM_NAMES.map((u) => tetheredRoute(e, u));
  for (const node of labNodes())
    await timed(log, `${node.name} (containerd, certs.d → mothership)`, () => startNode(node, routes));
  await ensurePeerBinaries(log);
  await startControlPlane(log);
  await startNetworkPolicies(log);
  await startKubelet(log);
  await startFlux(log);
  await startGitea(log);
  await startOidc(log);
  await timed(log, 'tethered Sovereign bootstrapped, Flux converged on the upstream GitOps repo', async () => {
    const ready = endpoints();
    const input = {
      e: ready,
      gitea: { url: GITEA_URL, username: GITEA_ADMIN.username, password: GITEA_ADMIN.password },
    };
    await bootstrap(bootstrapObjects(input), KUSTOMIZATIONS);
    writeFileSync(VALUES_FILE, sovereignValues(input));
    return `converged; values in ${VALUES_FILE}`;
  });
  writeFileSync(ENDPOINTS_FILE, JSON.stringify(endpoints(), null, 2));
  log(`lab is up in ${((performance.now() - started) / 1000).toFixed(1)} s; endpoints in ${ENDPOINTS_FILE}`);
  return e;
}

/** How a tethered node pulls an upstream's images: through the mothership's proxy project, the upstream behind it. */
function tetheredRoute(e: Endpoints, u: UpstreamName): MirrorRoute {
  return {
    upstreamHost: e.upstreams[u].host,
    upstreamUrl: e.upstreams[u].url,
    mirrorUrl: `${e.mothership.url}/v2/${MOTHERSHIP_PROXY_PROJECTS[u]}`,
    ...(e.upstreams[u].url.startsWith('https:') ? { upstreamCa: PEERS_CA.cert } : {}),
  };
}

export async function down(log: Log = console.log): Promise<void> {
  await stopOidc();
  await stopGitea();
  await stopFlux();
  await stopKubelet();
  await stopNetworkPolicies();
  await stopControlPlane();
  for (const node of labNodes()) await stopNode(node);
  await stopHarbor('local');
  await stopUpstreams();
  rmSync(CUT_MARKER, { force: true });
  removeLabNetwork();
  log('lab is down (state kept in .lab; delete it for a fresh lab)');
}

/**
 * Puts the lab's Sovereign back to tethered after a cutover ran on it: the cutover's patches on
 * Flux's objects removed, the bootstrap re-applied and every Kustomization reconciled from the
 * upstream repo until converged, the cutover's own objects in `catalyst` removed, and every node's
 * certs.d tethered to the mothership again.
 */
export async function resetSovereign(log: Log = console.log): Promise<void> {
  const e = endpoints();
  const input = { e, gitea: { url: GITEA_URL, username: GITEA_ADMIN.username, password: GITEA_ADMIN.password } };
  const { KubeCluster, mergePatch } = await import('../src/adapters/kube/cluster.ts');
  const { PRE_PIVOT_REVISION } = await import('../src/steps/flux-gitrepository-patch.ts');
  const cluster = KubeCluster.connect(ADMIN_KUBECONFIG);
  const ns = 'catalyst';
  const quiet = () => undefined;
  // An install by helm-controller: deleting the HelmRelease uninstalls it (the status stays by policy).
  const helmRelease = { group: 'helm.toolkit.fluxcd.io', version: 'v2', plural: 'helmreleases', ...CUTOVER_RELEASE };
  if (await cluster.custom.getNamespacedCustomObject(helmRelease).catch(() => undefined)) {
    await cluster.custom.deleteNamespacedCustomObject(helmRelease);
    await waitUntil(
      'helm-controller to uninstall the cutover',
      async () => !(await cluster.custom.getNamespacedCustomObject(helmRelease).catch(() => undefined)),
      120_000,
    );
  }
  await cluster.custom
    .deleteNamespacedCustomObject({
      group: 'source.toolkit.fluxcd.io',
      version: 'v1',
      plural: 'helmrepositories',
      namespace: CUTOVER_RELEASE.namespace,
      name: CUTOVER_RELEASE.chart,
    })
    .catch(quiet);
  // The node agent of an install (its own namespace, `<install>-agent`) or of a step run without one.
  for (const namespace of [ns, `${ns}-agent`])
    await cluster.apps.deleteNamespacedDaemonSet({ name: 'registry-pivot', namespace }).catch(quiet);
  // A dormant install (`cutover render` applied by the demo or a test): its API, step ConfigMaps and Jobs.
  for (const name of ['self-sovereign-cutover-api', 'self-sovereign-cutover-controller'])
    await cluster.apps
      .deleteNamespacedDeployment({ name, namespace: ns, propagationPolicy: 'Background' })
      .catch(quiet);
  await cluster.batch
    .deleteCollectionNamespacedJob({
      namespace: ns,
      labelSelector: 'app.kubernetes.io/component=cutover-job',
      propagationPolicy: 'Background',
    })
    .catch(quiet);
  for (const component of ['cutover-step', 'cutover-journal'])
    await cluster.core
      .deleteCollectionNamespacedConfigMap({ namespace: ns, labelSelector: `app.kubernetes.io/component=${component}` })
      .catch(quiet);
  await cluster.core
    .deleteCollectionNamespacedPod({
      namespace: ns,
      labelSelector: 'app.kubernetes.io/part-of=self-sovereign-cutover',
      gracePeriodSeconds: 0,
    })
    .catch(quiet);
  for (const name of [
    'self-sovereign-cutover-status',
    'self-sovereign-cutover-status-tethers',
    'registry-pivot-config',
  ])
    await cluster.core.deleteNamespacedConfigMap({ name, namespace: ns }).catch(quiet);
  await cluster.coordination.deleteNamespacedLease({ name: 'self-sovereign-cutover', namespace: ns }).catch(quiet);
  // The nodes' reports: a fresh install's agents create theirs.
  await cluster.core
    .deleteCollectionNamespacedConfigMap({
      namespace: `${ns}-agent`,
      labelSelector: 'app.kubernetes.io/component=registry-pivot-report',
    })
    .catch(quiet);
  // The key that seals sessions: a fresh install creates its own (the first replica to start).
  await cluster.core.deleteNamespacedSecret({ name: 'sovereign-cutover-session', namespace: ns }).catch(quiet);
  // The upstream pull credentials 08 took out (the bootstrap below puts them back in the pull Secret).
  await cluster.core.deleteNamespacedSecret({ name: 'sovereign-cutover-pull-backup', namespace: ns }).catch(quiet);
  for (const h of (
    await cluster.networking.listNetworkPolicyForAllNamespaces({
      labelSelector: 'app.kubernetes.io/component=cutover-egress-hold',
    })
  ).items) {
    await cluster.networking
      .deleteNamespacedNetworkPolicy({ name: h.metadata?.name ?? '', namespace: h.metadata?.namespace ?? '' })
      .catch(quiet);
  }
  // What step 05 adds for a Gitea that needs auth: the credential Secret in each namespace it pivots.
  for (const namespace of ['flux-system', TENANT.namespace])
    await cluster.core
      .deleteCollectionNamespacedSecret({
        namespace,
        labelSelector: 'app.kubernetes.io/part-of=self-sovereign-cutover',
      })
      .catch(quiet);
  // Live edits a test or an older cutover left on the root source (Git sets neither).
  await cluster.custom
    .patchNamespacedCustomObject(
      {
        group: 'source.toolkit.fluxcd.io',
        version: 'v1',
        plural: 'gitrepositories',
        namespace: 'flux-system',
        name: GITOPS.repo,
        body: { spec: { secretRef: null }, metadata: { annotations: { [PRE_PIVOT_REVISION]: null } } },
      },
      mergePatch,
    )
    .catch(quiet);
  await removeCutoverPatches();
  await bootstrap(bootstrapObjects(input), KUSTOMIZATIONS);
  // The API of an install binds the lab's API port, its controller runs the engine: wait until their pods are gone.
  await waitUntil(
    'the cutover API and controller pods to go',
    async () =>
      (
        await cluster.core.listNamespacedPod({
          namespace: ns,
          labelSelector: 'app.kubernetes.io/component in (cutover-api,cutover-controller)',
        })
      ).items.length === 0,
    60_000,
  );
  for (const node of labNodes()) {
    for (const u of UPSTREAM_NAMES) {
      const dir = join(nodePaths(node).certsDir, e.upstreams[u].host);
      rmSync(join(dir, 'hosts.toml.pre-cutover'), { force: true });
      rmSync(join(dir, 'hosts.toml.pre-cutover.none'), { force: true });
      writeFileSync(join(dir, 'hosts.toml'), tetheredHostsToml(tetheredRoute(e, u)));
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
  via: 'apply' | 'helm-controller' = 'apply',
): Promise<string> {
  const { parseValues } = await import('../src/core/values.ts');
  const { render } = await import('../src/render/render.ts');
  const { VERSION } = await import('../src/core/version.ts');
  const { serverSideApply } = await import('../src/adapters/kube/apply.ts');
  const { KubeConfig } = await import('@kubernetes/client-node');
  const config = new KubeConfig();
  config.loadFromFile(ADMIN_KUBECONFIG);
  const values = parseValues(valuesText);
  if (via === 'helm-controller') await installWithHelmController(config, valuesText, VERSION);
  else
    await serverSideApply(
      config,
      render(values, { namespace: 'catalyst', valuesText, version: VERSION, blueprint: true }),
      'operator',
    );
  const url = `http://127.0.0.1:${values.api.port}`;
  await waitUntil('the in-cluster cutover API', () => httpOk(`${url}/healthz`, (s) => s === 200), 90_000);
  log(`dormant install applied to catalyst; its API and console answer on ${url}/`);
  return `${url}/`;
}

/** The install's HelmRepository and HelmRelease in flux-system, as the original's are (releaseName, target). */
export const CUTOVER_RELEASE = {
  namespace: 'flux-system',
  name: 'self-sovereign-cutover',
  chart: 'bp-self-sovereign-cutover',
};

/**
 * The way openova installs it: the chart (generated for these values) packaged and pushed with helm
 * under the upstream prefix, an OCI HelmRepository on it with the pull Secret, and a HelmRelease
 * that helm-controller installs into `catalyst` — a tether of the Sovereign like any other chart.
 */
async function installWithHelmController(
  config: import('@kubernetes/client-node').KubeConfig,
  valuesText: string,
  version: string,
): Promise<void> {
  const { generateChart } = await import('../src/render/chart.ts');
  const { writeChart } = await import('../src/cli/commands/chart.ts');
  const { serverSideApply } = await import('../src/adapters/kube/apply.ts');
  const { KubeCluster } = await import('../src/adapters/kube/cluster.ts');
  const { readyCondition } = await import('../src/adapters/kube/flux.ts');
  const { HELM_RELEASES } = await import('../src/adapters/kube/flux-owners.ts');
  const { pushChart } = await import('./peers/helm.ts');
  const { mkdtempSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const home = mkdtempSync(join(tmpdir(), 'lab-chart-'));
  const chart = join(home, CUTOVER_RELEASE.chart);
  writeChart(generateChart(valuesText, version).files, chart);
  const e = endpoints();
  const repository = `oci://${e.upstreams.ghcr.host}/openova-io`;
  pushChart(home, chart, CUTOVER_RELEASE.chart, version, repository);
  const { namespace, name } = CUTOVER_RELEASE;
  const flux = (group: string, apiVersion: string, kind: string, objectName: string, spec: object) => ({
    apiVersion: `${group}/${apiVersion}`,
    kind,
    metadata: { name: objectName, namespace },
    spec,
  });
  await serverSideApply(
    config,
    [
      flux('source.toolkit.fluxcd.io', 'v1', 'HelmRepository', CUTOVER_RELEASE.chart, {
        type: 'oci',
        interval: '10m0s',
        url: repository,
        insecure: true,
        secretRef: { name: 'ghcr-pull' },
      }),
      flux('helm.toolkit.fluxcd.io', 'v2', 'HelmRelease', name, {
        interval: '10m0s',
        targetNamespace: 'catalyst',
        releaseName: name,
        chart: {
          spec: {
            chart: CUTOVER_RELEASE.chart,
            version,
            sourceRef: { kind: 'HelmRepository', name: CUTOVER_RELEASE.chart },
          },
        },
        // The namespace outlives the release (a reset uninstalls it); helm-controller creates it when missing.
        install: { disableWait: true, createNamespace: true },
        upgrade: { disableWait: true },
        values: { createNamespace: false },
      }),
    ],
    'operator',
  );
  const cluster = KubeCluster.connect(ADMIN_KUBECONFIG);
  await waitUntil(
    'helm-controller to install the cutover',
    async () => {
      const release = await cluster.custom
        .getNamespacedCustomObject({ ...HELM_RELEASES, namespace, name })
        .catch(() => undefined);
      return readyCondition(release as never)?.status === 'True';
    },
    120_000,
  );
}

export interface PeerStatus {
  peer: string;
  url: string;
  up: boolean;
  role: 'upstream' | 'local';
}

export async function status(): Promise<PeerStatus[]> {
  trustPeersCa(); // the local Harbor is on the Sovereign's private CA
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
    peer: 'kube-network-policies (enforcing)',
    url: NETWORK_POLICIES_LOG,
    up: networkPoliciesRunning() && policyEnforced(),
    role: 'local',
  });
  peers.push({
    peer: 'lab kubelet (node-a, node-b)',
    url: KUBELET_LOG,
    up: kubeletRunning(),
    role: 'local',
  });
  for (const controller of FLUX_CONTROLLERS) {
    peers.push({
      peer: `Flux ${controller.name}`,
      url: healthURL(controller),
      up: await httpOk(healthURL(controller), (s) => s === 200),
      role: 'local',
    });
  }
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
