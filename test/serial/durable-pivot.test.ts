// Runs alone: the pivot survives GitOps on the lab Sovereign, which real kustomize- and
// helm-controller run from the upstream repository. After a cutover, three forced reconciles of
// every Kustomization and HelmRelease leave every source and the env var local, Ready, on the same
// revision, and `cutover tethers` finds nothing tethered; then, with upstream cut, a chart bump in
// Git (mirrored before the cut) is installed by helm-controller from the local Harbor.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, statSync } from 'node:fs';
import { after, test } from 'node:test';
import { KubeCluster } from '../../src/adapters/kube/cluster.ts';
import { HELM_RELEASES, KUSTOMIZATIONS, listOwners, type FluxOwner } from '../../src/adapters/kube/flux-owners.ts';
import { getFlux, listFluxAll, readyCondition, type FluxSource } from '../../src/adapters/kube/flux.ts';
import { parseValues } from '../../src/core/values.ts';
import { cutUpstream, installCutover, resetSovereign, restoreUpstream } from '../../lab/lab.ts';
import { GITOPS_BARE_DIR } from '../../lab/git/git.ts';
import { CLUSTER_PATH } from '../../lab/kube/sovereign.ts';
import { CHARTS, NEXT_CHART } from '../../lab/corpus/spec.ts';
import { StatusStore } from '../../src/adapters/kube/status-store.ts';
import { buildStepEnv } from '../../src/composition.ts';
import { DistributionClient, USER_AGENT } from '../../src/adapters/oci/distribution-client.ts';
import { CHART_ORG } from '../../lab/corpus/spec.ts';
import { CorpusGenerator } from '../../lab/corpus/generate.ts';
import { pushArtifact } from '../../lab/corpus/seed.ts';
import { registryLog } from '../../lab/registry.ts';
import { UPSTREAM_NAMES, upstreamRegistry } from '../../lab/endpoints.ts';
import { labValuesFile } from '../support/api.ts';
import { reconcileAll } from '../support/flux.ts';
import { eventually, kube } from '../support/kube.ts';
import { fileOnMain, lab, pushFile, pushFiles, pushFreshImage } from '../support/lab.ts';

const e = lab();
const k = kube();
const cluster = KubeCluster.connect(e.kube.kubeconfig);
const values = parseValues(readFileSync(e.valuesFile, 'utf8'));
const cli = new URL('../../src/cli/main.ts', import.meta.url).pathname;
const flags = ['-f', e.valuesFile, '--kubeconfig', e.kube.kubeconfig, '-n', 'catalyst'];
const quiet = (): void => {};
const cleanups: Array<() => Promise<unknown>> = [];
const releasesFile = `${CLUSTER_PATH}/releases.yaml`;
const originalReleases = fileOnMain(GITOPS_BARE_DIR, releasesFile);
after(async () => {
  await restoreUpstream(quiet);
  for (const cleanup of cleanups.reverse()) await cleanup();
  if (fileOnMain(GITOPS_BARE_DIR, releasesFile) !== originalReleases)
    pushFile(GITOPS_BARE_DIR, releasesFile, originalReleases);
  await resetSovereign(quiet);
});

const id = (o: { metadata: { namespace: string; name: string } }) => `${o.metadata.namespace}/${o.metadata.name}`;
const localGit = `${e.gitea.url}/${values.gitea.org}/${values.gitea.repo}`;
const localCharts = `oci://${e.localHarbor.host}/`;

/** Every Flux source of the lab Sovereign: where it points, and the revision it serves. */
async function sources(): Promise<Map<string, { url: string; revision: string | undefined; ready: boolean }>> {
  const seen = new Map<string, { url: string; revision: string | undefined; ready: boolean }>();
  for (const plural of ['gitrepositories', 'helmrepositories', 'ocirepositories'] as const)
    for (const s of await listFluxAll(cluster, plural))
      if (['flux-system', 'tenant-a'].includes(s.metadata.namespace))
        seen.set(`${plural} ${id(s)}`, {
          url: s.spec.url ?? '',
          revision: s.status?.artifact?.revision,
          // OCI HelmRepositories have no reconciler, so no Ready.
          ready: plural === 'helmrepositories' || (readyCondition(s as FluxSource)?.status === 'True' && current(s)),
        });
  return seen;
}

const current = (o: { metadata: { generation?: number }; status?: { observedGeneration?: number } }) =>
  o.status?.observedGeneration === o.metadata.generation;

const apiEnv = async () =>
  (
    await k.apps.readNamespacedDeployment({ name: 'catalyst-api', namespace: 'catalyst-system' })
  ).spec?.template.spec?.containers[0]?.env?.find((v) => v.name === values.catalystAPI.envVar)?.value;

test(
  'after the cutover, three forced reconciles of every Kustomization and HelmRelease keep every source and the env local, Ready, on the same revision; nothing is tethered',
  { timeout: 600_000 },
  async () => {
    await resetSovereign(quiet);
    const before = await sources();
    assert.ok(
      [...before.values()].every((s) => !s.url.startsWith(localCharts) && s.url !== localGit),
      'tethered to begin with',
    );
    // Before: the inventory says what applies each tether and how its pivot will stay.
    const listed = spawnSync(process.execPath, [cli, 'tethers', ...flags, '-o', 'json'], { encoding: 'utf8' });
    assert.equal(listed.status, 0, listed.stderr);
    const rows = (
      JSON.parse(listed.stdout) as {
        tethers: Array<{ object: string; kind: string; owner?: string; durability?: string }>;
      }
    ).tethers;
    const row = (object: string, kind: string) => rows.find((t) => t.object === object && t.kind === kind);
    assert.deepEqual(
      [
        row('GitRepository flux-system/openova', 'git-repository'),
        row('GitRepository tenant-a/tenant-a', 'git-repository'),
        row('HelmRepository tenant-a/tenant-charts', 'helm-repository'),
        row('Deployment catalyst-system/catalyst-api', 'env'),
      ].map((t) => `${t?.owner} (${t?.durability})`),
      [
        'Kustomization flux-system/flux-system (spec.patches)',
        'Kustomization flux-system/flux-system (spec.patches)',
        'Kustomization tenant-a/tenant-a (spec.patches)',
        'Kustomization flux-system/catalyst (spec.patches)',
      ],
    );
    assert.equal(row('Deployment tenant-a/tenant-platform', 'image')?.owner, 'HelmRelease tenant-a/tenant-platform');
    const started = performance.now();
    const run = spawnSync(process.execPath, [cli, 'run', ...flags], { encoding: 'utf8' });
    assert.equal(run.status, 0, `${run.stdout}\n${run.stderr}`);
    console.log(
      `# cutover on the Flux-bootstrapped lab Sovereign: ${((performance.now() - started) / 1000).toFixed(1)} s`,
    );
    // The pivot lives in Flux's own desired state: our entries in the owners' spec.patches.
    const root = (await listOwners(cluster, KUSTOMIZATIONS)).find((o) => id(o) === 'flux-system/flux-system')!;
    assert.ok(root.spec.patches?.some((p) => p.patch.includes('GitRepository flux-system/openova')));
    const tenant = (await listOwners(cluster, KUSTOMIZATIONS)).find((o) => id(o) === 'tenant-a/tenant-a')!;
    assert.ok(tenant.spec.patches?.some((p) => p.patch.includes('HelmRepository tenant-a/tenant-charts')));

    const pivoted = await sources();
    for (const [name, s] of pivoted) {
      assert.ok(s.url === localGit || s.url.startsWith(localCharts), `${name} is local: ${s.url}`);
      assert.ok(s.ready, `${name} Ready`);
    }
    assert.equal(await apiEnv(), localGit);
    for (let round = 1; round <= 3; round++) {
      const seconds = await reconcileAll(cluster);
      console.log(
        `# forced reconcile ${round}: every Kustomization and HelmRelease handled it in ${seconds.toFixed(1)} s`,
      );
      const now = await sources();
      for (const [name, s] of pivoted) {
        assert.equal(now.get(name)?.url, s.url, `${name} still local after reconcile ${round}`);
        assert.equal(now.get(name)?.revision, s.revision, `${name} same revision after reconcile ${round}`);
        assert.ok(now.get(name)?.ready, `${name} Ready after reconcile ${round}`);
      }
      assert.equal(await apiEnv(), localGit, `the env var after reconcile ${round}`);
    }

    const inventory = spawnSync(process.execPath, [cli, 'tethers', ...flags, '-o', 'json'], { encoding: 'utf8' });
    assert.equal(inventory.status, 0, inventory.stderr);
    const { tethers } = JSON.parse(inventory.stdout) as {
      tethers: Array<{ state: string; object: string; field: string }>;
    };
    assert.deepEqual(
      tethers.filter((t) => t.state === 'tethered').map((t) => `${t.object} ${t.field}`),
      [],
      'nothing tethered',
    );
  },
);

test(
  'with upstream cut, a chart bump in Git is installed by helm-controller from the local Harbor',
  { timeout: 300_000 },
  async () => {
    const chart = CHARTS.find((c) => c.name === NEXT_CHART.name)!;
    // Upstream publishes the bump; the Sovereign's mirror takes it in while upstream is reachable.
    const bumped = originalReleases.replace(
      new RegExp(`(chart: ${chart.name}\\n(?:.*\\n)*?\\s+version: )${chart.version.replaceAll('.', '\\.')}`),
      `$1${NEXT_CHART.version}`,
    );
    assert.notEqual(bumped, originalReleases, 'the release was found in Git');
    const commit = pushFile(GITOPS_BARE_DIR, releasesFile, bumped);
    const sync = await fetch(`${e.gitea.url}/api/v1/repos/${values.gitea.org}/${values.gitea.repo}/mirror-sync`, {
      method: 'POST',
      headers: { authorization: `token ${e.gitea.token}` },
    });
    assert.equal(sync.status, 200, await sync.text());
    await eventually('the mirror to carry the bump', async () => {
      const res = await fetch(`${e.gitea.url}/api/v1/repos/${values.gitea.org}/${values.gitea.repo}/branches/main`, {
        headers: { authorization: `token ${e.gitea.token}` },
      });
      return ((await res.json()) as { commit?: { id?: string } }).commit?.id === commit;
    });
    await cutUpstream(quiet);
    const started = performance.now();
    await reconcileAll(cluster);
    const release = await eventually(
      `HelmRelease flux-system/${chart.name} on ${NEXT_CHART.version}`,
      async () => {
        const r = (await k.custom.getNamespacedCustomObject({
          ...HELM_RELEASES,
          namespace: 'flux-system',
          name: chart.name,
        })) as FluxOwner & { status?: { history?: Array<{ chartVersion?: string; status?: string }> } };
        return r.status?.history?.[0]?.chartVersion === NEXT_CHART.version &&
          readyCondition(r as never)?.status === 'True'
          ? r
          : undefined;
      },
      120_000,
    );
    console.log(
      `# chart bump with upstream cut: upgraded from the local Harbor in ${((performance.now() - started) / 1000).toFixed(1)} s`,
    );
    assert.equal(release.status?.history?.[0]?.status, 'deployed');
    const helmChart = (await listFluxAll(cluster, 'helmcharts')).find(
      (c) => id(c) === `flux-system/flux-system-${chart.name}`,
    );
    assert.equal(helmChart?.status?.artifact?.revision, NEXT_CHART.version);
    // The source it came from is the local Harbor: nothing upstream answers now.
    const repo = (await listFluxAll(cluster, 'helmrepositories')).find((r) => id(r) === `flux-system/${chart.name}`);
    assert.ok(repo?.spec.url?.startsWith(localCharts), repo?.spec.url);
  },
);

test(
  'after the cutover, one upstream commit bumps catalyst-api to a new image, a HelmRelease to a new chart version (whose values name a new image) and adds a HelmRepository with a HelmRelease on it: the installed cutover API (auto) copies them in, Flux runs it, no pod is ever in ImagePullBackOff, and upstream saw no pull but the copier (issue 15 acceptance 1)',
  { timeout: 300_000 },
  async () => {
    await restoreUpstream(quiet); // the test before cut it
    // The product as installed: its controller Deployment runs the guard and the intake (as the runner, steps as Jobs).
    await installCutover(
      quiet,
      readFileSync(
        labValuesFile({ guard: { periodSeconds: 5, mirrorCheckSeconds: 5 }, intake: { periodSeconds: 5 } }),
        'utf8',
      ),
    );
    const status = new StatusStore(cluster, 'catalyst', values.status.configMapName);
    const gitRepo = () => getFlux(cluster, 'gitrepositories', 'flux-system', 'openova');
    await eventually(
      'Flux held on the verified head',
      async () => {
        const held = (await status.read())?.pinsVerifiedRevision;
        return Boolean(held) && (await gitRepo()).spec.ref?.commit === held;
      },
      90_000,
    );

    // Upstream publishes a new catalyst-api image and a new chart version, then one commit uses them.
    const logs = UPSTREAM_NAMES.map((n) => ({
      file: registryLog(upstreamRegistry(n)),
      from: statSync(registryLog(upstreamRegistry(n))).size,
    }));
    const ghcr = new DistributionClient(e.upstreams.ghcr.url);
    const tag = `1.1.${Date.now() % 100000}`;
    await pushFreshImage(ghcr, 'openova-io/catalyst-api', tag);
    const gitea = CHARTS.find((c) => c.name === 'bp-gitea')!;
    const nextVersion = `${gitea.version.split('.').slice(0, 2).join('.')}.${Date.now() % 100000}`;
    await pushArtifact(
      ghcr,
      new CorpusGenerator().build({
        kind: 'chart',
        upstream: 'ghcr',
        repo: `${CHART_ORG}/${gitea.name}`,
        name: gitea.name,
        version: nextVersion,
        // The bumped chart renders a Deployment on an image only its default values name.
        image: { upstream: 'ghcr', repo: 'openova-io/gitea-next', tag },
      }),
    );
    await pushFreshImage(ghcr, 'openova-io/gitea-next', tag);
    const releases = fileOnMain(GITOPS_BARE_DIR, releasesFile);
    const bumped = releases.replace(
      new RegExp(`(chart: ${gitea.name}\\n(?:.*\\n)*?\\s+version: )${gitea.version.replaceAll('.', '\\.')}`),
      `$1${nextVersion}`,
    );
    assert.notEqual(bumped, releases, 'the release was found in Git');
    const sourcesFile = `${CLUSTER_PATH}/sources.yaml`;
    const apiFile = 'products/catalyst/catalyst-api.yaml';
    const apiManifest = fileOnMain(GITOPS_BARE_DIR, apiFile);
    const originals = {
      [releasesFile]: releases,
      [sourcesFile]: fileOnMain(GITOPS_BARE_DIR, sourcesFile),
      [apiFile]: apiManifest,
    };
    cleanups.push(async () => pushFiles(GITOPS_BARE_DIR, originals));
    // …and a new HelmRepository with a HelmRelease on it: its first fetch must already be local.
    const newSource = 'acceptance-charts';
    const extraChart = 'bp-acceptance-extra';
    await pushArtifact(
      ghcr,
      new CorpusGenerator().build({
        kind: 'chart',
        upstream: 'ghcr',
        repo: `${CHART_ORG}/${extraChart}`,
        name: extraChart,
        version: nextVersion,
      }),
    );
    const pushed = performance.now();
    const commit = pushFiles(GITOPS_BARE_DIR, {
      [apiFile]: apiManifest.replace(/catalyst-api:[\w.-]+/, `catalyst-api:${tag}`),
      [releasesFile]: bumped,
      [sourcesFile]: `${originals[sourcesFile]!.trimEnd()}\n---\n${[
        'apiVersion: source.toolkit.fluxcd.io/v1',
        'kind: HelmRepository',
        `metadata: { name: ${newSource}, namespace: flux-system }`,
        `spec: { type: oci, interval: 10m0s, url: "oci://${e.upstreams.ghcr.host}/${CHART_ORG}", insecure: true, secretRef: { name: ghcr-pull } }`,
        '---',
        'apiVersion: helm.toolkit.fluxcd.io/v2',
        'kind: HelmRelease',
        `metadata: { name: ${extraChart}, namespace: flux-system }`,
        `spec: { interval: 10m0s, chart: { spec: { chart: ${extraChart}, version: "${nextVersion}", sourceRef: { kind: HelmRepository, name: ${newSource} } } } }`,
      ].join('\n')}\n`,
    });
    const env = await buildStepEnv(values, cluster, 'catalyst');
    await env.forge.mirrorSync(values.gitea.org, values.gitea.repo);

    // Watch the rollout: no catalyst-system pod may ever wait on a pull.
    const backoffs = new Set<string>();
    const watching = setInterval(() => {
      void k.core.listPodForAllNamespaces().then(
        (pods) => {
          for (const p of pods.items)
            for (const c of p.status?.containerStatuses ?? [])
              if (['ImagePullBackOff', 'ErrImagePull'].includes(c.state?.waiting?.reason ?? ''))
                backoffs.add(`${p.metadata?.name}: ${c.state?.waiting?.reason} ${c.image}`);
        },
        () => undefined,
      );
    }, 250);
    try {
      await eventually(
        `catalyst-api running ${tag}`,
        async () =>
          (
            await k.core.listNamespacedPod({ namespace: 'catalyst-system', labelSelector: 'app=catalyst-api' })
          ).items.some((p) => p.status?.phase === 'Running' && p.spec?.containers[0]?.image?.endsWith(`:${tag}`)),
        120_000,
      );
      const apiRunning = (performance.now() - pushed) / 1000;
      const release = await eventually(
        `HelmRelease flux-system/${gitea.name} on ${nextVersion}`,
        async () => {
          const r = (await k.custom.getNamespacedCustomObject({
            ...HELM_RELEASES,
            namespace: 'flux-system',
            name: gitea.name,
          })) as FluxOwner & {
            status?: { history?: Array<{ chartVersion?: string; status?: string }> };
          };
          return r.status?.history?.[0]?.chartVersion === nextVersion && readyCondition(r as never)?.status === 'True'
            ? r
            : undefined;
        },
        120_000,
      );
      assert.equal(release.status?.history?.[0]?.status, 'deployed');
      // What the chart rendered runs on the image its values named: the radar read them and copied it in.
      await eventually(
        `the chart's Deployment running gitea-next:${tag}`,
        async () =>
          (await k.core.listNamespacedPod({ namespace: 'flux-system' })).items.some(
            (p) =>
              p.status?.phase === 'Running' &&
              p.spec?.containers.some((c) => c.image?.endsWith(`/openova-io/gitea-next:${tag}`)),
          ),
        120_000,
      );
      await eventually(
        `HelmRelease flux-system/${extraChart} on the new source, Ready`,
        async () => {
          const r = (await k.custom
            .getNamespacedCustomObject({ ...HELM_RELEASES, namespace: 'flux-system', name: extraChart })
            .catch(() => undefined)) as
            (FluxOwner & { status?: { history?: Array<{ chartVersion?: string }> } }) | undefined;
          return r?.status?.history?.[0]?.chartVersion === nextVersion && readyCondition(r as never)?.status === 'True';
        },
        120_000,
      );
      const added = await eventually(
        `the new HelmRepository flux-system/${newSource} pointed at the local Harbor`,
        async () =>
          (await listFluxAll(cluster, 'helmrepositories')).find(
            (r) => id(r) === `flux-system/${newSource}` && r.spec.url?.startsWith(localCharts),
          ),
        120_000,
      );
      console.log(
        `# upstream commit (new image, chart bump with a new image in its values, new HelmRepository): catalyst-api Running ${apiRunning.toFixed(1)} s after the push, all applied ${((performance.now() - pushed) / 1000).toFixed(1)} s after it (mirror synced on request; the installed API checks the mirror and the pins every 5 s)`,
      );
      assert.equal((await gitRepo()).spec.ref?.commit, commit, 'Flux runs the verified commit');
      assert.ok(added.spec.url?.startsWith(localCharts));
    } finally {
      clearInterval(watching);
    }
    assert.deepEqual([...backoffs], [], 'no pod waited on a pull');
    // Upstream's access logs: after the commit, every request came from the cutover (the copier, the
    // inventory's digest look-ups, this test's pushes); neither a node's containerd nor Flux reached upstream.
    const others = logs.flatMap(({ file, from }) =>
      readFileSync(file, 'utf8')
        .slice(from)
        .split('\n')
        // Access-log lines only (combined format), not the registry's own warnings.
        .filter((line) => /^\S+ - \S+ \[[^\]]+\] "/.test(line) && !line.endsWith(`"${USER_AGENT['user-agent']}"`)),
    );
    assert.deepEqual(others, [], "no request to upstream but the cutover's");
    const copierPulls = logs
      .flatMap(({ file, from }) => readFileSync(file, 'utf8').slice(from).split('\n'))
      .filter((l) =>
        new RegExp(`"GET /v2/openova-io/(catalyst-api|gitea-next|${gitea.name}|${extraChart})/manifests/`).test(l),
      );
    // Only the intake pulls gitea-next (no pod ran it before Flux applied the chart, and none waited on a pull):
    // it was read from the chart's values.
    assert.ok(
      copierPulls.some((l) => l.includes(`/openova-io/gitea-next/manifests/${tag}`)),
      `the intake copied the image the chart's values name: ${copierPulls.join('\n')}`,
    );
    assert.ok(copierPulls.length >= 4, `the copier pulled the new images and charts: ${copierPulls.join('\n')}`);
  },
);
