// Runs alone: the pivot survives GitOps on the lab Sovereign, which real kustomize- and
// helm-controller run from the upstream repository. After a cutover, three forced reconciles of
// every Kustomization and HelmRelease leave every source and the env var local, Ready, on the same
// revision, and `cutover tethers` finds nothing tethered; then, with upstream cut, a chart bump in
// Git (mirrored before the cut) is installed by helm-controller from the local Harbor.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { after, test } from 'node:test';
import { KubeCluster } from '../../src/adapters/kube/cluster.ts';
import { HELM_RELEASES, KUSTOMIZATIONS, listOwners, type FluxOwner } from '../../src/adapters/kube/flux-owners.ts';
import { listFluxAll, readyCondition, type FluxSource } from '../../src/adapters/kube/flux.ts';
import { parseValues } from '../../src/core/values.ts';
import { cutUpstream, resetSovereign, restoreUpstream } from '../../lab/lab.ts';
import { GITOPS_BARE_DIR } from '../../lab/git/git.ts';
import { CLUSTER_PATH } from '../../lab/kube/sovereign.ts';
import { CHARTS, NEXT_CHART } from '../../lab/corpus/spec.ts';
import { reconcileAll } from '../support/flux.ts';
import { eventually, kube } from '../support/kube.ts';
import { fileOnMain, lab, pushFile } from '../support/lab.ts';

const e = lab();
const k = kube();
const cluster = KubeCluster.connect(e.kube.kubeconfig);
const values = parseValues(readFileSync(e.valuesFile, 'utf8'));
const cli = new URL('../../src/cli/main.ts', import.meta.url).pathname;
const flags = ['-f', e.valuesFile, '--kubeconfig', e.kube.kubeconfig, '-n', 'catalyst'];
const quiet = (): void => {};
const releasesFile = `${CLUSTER_PATH}/releases.yaml`;
const originalReleases = fileOnMain(GITOPS_BARE_DIR, releasesFile);
after(async () => {
  await restoreUpstream(quiet);
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
