// Runs alone (it installs cluster-wide RBAC): the chart installed the way the original is, by the real
// helm-controller from an OCI HelmRepository. The chart is generated for the lab's values, packaged and
// pushed with the real helm to the lab's upstream registry; the release installs, its values reach the
// pods' ConfigMap, an upgrade keeps every status key the controller wrote, and an uninstall keeps the
// status (helm.sh/resource-policy: keep).
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { parse as parseYaml } from 'yaml';
import { REPO_ROOT } from '../../lab/topology.ts';
import { mergePatch } from '../../src/adapters/kube/cluster.ts';
import { HELM_RELEASES } from '../../src/adapters/kube/flux-owners.ts';
import { readyCondition } from '../../src/adapters/kube/flux.ts';
import { VALUES_CONFIGMAP } from '../../src/core/contracts.ts';
import { parseValues } from '../../src/core/values.ts';
import { VERSION } from '../../src/core/version.ts';
import { labValuesFile } from '../support/api.ts';
import { pushChart } from '../../lab/peers/helm.ts';
import { createFlux } from '../support/flux.ts';
import { eventually, kube, testNamespace } from '../support/kube.ts';
import { cleanupsAfterAll, lab } from '../support/lab.ts';
import { spawnSync } from 'node:child_process';

const cleanups = cleanupsAfterAll();
const k = kube();

test('the chart, pushed as an OCI artifact, is installed by helm-controller from an OCI HelmRepository; an upgrade keeps the status', async () => {
  const ns = await testNamespace('chart', cleanups);
  const target = `${ns}-cutover`;
  const home = mkdtempSync(join(tmpdir(), 'helm-home-'));
  const chart = join(home, 'chart');
  const cli = spawnSync(
    process.execPath,
    [join(REPO_ROOT, 'src/cli/main.ts'), 'chart', '-f', labValuesFile({}), '--out', chart],
    { encoding: 'utf8' },
  );
  assert.equal(cli.status, 0, cli.stderr);
  const registry = `${lab().upstreams.ghcr.host}/${ns}`;
  assert.match(pushChart(home, chart, 'bp-self-sovereign-cutover', VERSION, `oci://${registry}`), /Digest: sha256:/);

  await createFlux(
    ns,
    'source.toolkit.fluxcd.io',
    'v1',
    'helmrepositories',
    'HelmRepository',
    'bp-self-sovereign-cutover',
    {
      type: 'oci',
      interval: '10m',
      url: `oci://${registry}`,
      insecure: true,
    },
  );
  const release = async () =>
    (await k.custom.getNamespacedCustomObject({ ...HELM_RELEASES, namespace: ns, name: 'self-sovereign-cutover' })) as {
      metadata: { generation: number };
      status?: { history?: Array<{ version?: number }>; observedGeneration?: number };
    };
  // helm-controller uninstalls on delete; the status ConfigMaps stay by policy, the namespaces go with the test.
  cleanups.push(async () => {
    await k.custom
      .deleteNamespacedCustomObject({ ...HELM_RELEASES, namespace: ns, name: 'self-sovereign-cutover' })
      .catch(() => {});
    await eventually('the release uninstalled', async () => !(await release().catch(() => undefined)), 120_000);
    for (const name of [target, `${target}-agent`]) await k.core.deleteNamespace({ name }).catch(() => {});
  });
  await createFlux(ns, 'helm.toolkit.fluxcd.io', 'v2', 'helmreleases', 'HelmRelease', 'self-sovereign-cutover', {
    interval: '10m',
    targetNamespace: target,
    releaseName: 'self-sovereign-cutover',
    chart: {
      spec: {
        chart: 'bp-self-sovereign-cutover',
        version: VERSION,
        sourceRef: { kind: 'HelmRepository', name: 'bp-self-sovereign-cutover' },
      },
    },
    install: { disableWait: true },
    upgrade: { disableWait: true },
    values: { trigger: { autoDelaySeconds: 41 } },
  });
  const ready = (revision: number) =>
    eventually(
      `the release Ready at revision ${revision}`,
      async () => {
        const r = await release();
        return (
          readyCondition(r as never)?.status === 'True' &&
          r.status?.observedGeneration === r.metadata.generation &&
          (r.status?.history?.[0]?.version ?? 0) >= revision
        );
      },
      180_000,
    );
  await ready(1);

  const valuesInPods = async () =>
    parseValues(
      (await k.core.readNamespacedConfigMap({ name: VALUES_CONFIGMAP, namespace: target })).data?.['values.yaml'] ?? '',
    );
  assert.equal((await valuesInPods()).trigger.autoDelaySeconds, 41, "the HelmRelease's values reach the pods");
  const labValues = parseYaml(readFileSync(lab().valuesFile, 'utf8')) as { status?: { configMapName?: string } };
  const statusName = labValues.status?.configMapName ?? 'self-sovereign-cutover-status';

  // What the controller writes (its own field manager): an upgrade must never take it away.
  const written = { cutoverState: 'completed', 'step.01-gitea-mirror.result': 'success' };
  await k.core.patchNamespacedConfigMap(
    { name: statusName, namespace: target, body: { data: written }, fieldManager: 'sovereign-cutover' },
    mergePatch,
  );
  await k.custom.patchNamespacedCustomObject(
    {
      ...HELM_RELEASES,
      namespace: ns,
      name: 'self-sovereign-cutover',
      body: { spec: { values: { trigger: { autoDelaySeconds: 42 } } } },
    },
    mergePatch,
  );
  await ready(2);
  assert.equal((await valuesInPods()).trigger.autoDelaySeconds, 42, 'the upgrade changed the values');
  const status = await k.core.readNamespacedConfigMap({ name: statusName, namespace: target });
  for (const [key, value] of Object.entries(written)) assert.equal(status.data?.[key], value, `${key} kept`);
  const controller = await k.apps.readNamespacedDeployment({
    name: 'self-sovereign-cutover-controller',
    namespace: target,
  });
  assert.equal(controller.metadata?.labels?.['app.kubernetes.io/version'], VERSION);
});
