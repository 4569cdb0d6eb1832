// The lab's GitOps controllers against real peers: kustomize-controller applies the upstream GitOps
// repository and re-applies Git over a live edit on the next reconcile (the force that undoes a
// live-only pivot), and helm-controller installs an OCI chart from the ghcr stand-in.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { mergePatch } from '../src/adapters/kube/cluster.ts';
import { readyCondition, REQUESTED_AT, type FluxSource } from '../src/adapters/kube/flux.ts';
import { createFlux, createUpstreamGitRepository } from './support/flux.ts';
import { eventually, kube, testNamespace } from './support/kube.ts';
import { cleanupsAfterAll, lab } from './support/lab.ts';

const e = lab();
const k = kube();
const cleanups = cleanupsAfterAll();

type FluxObject = FluxSource & { status?: { lastAppliedRevision?: string } };

async function readyOf(namespace: string, group: string, version: string, plural: string, name: string) {
  const o = (await k.custom.getNamespacedCustomObject({ group, version, namespace, plural, name })) as FluxObject;
  const ready = readyCondition(o);
  return { object: o, ready, current: o.status?.observedGeneration === o.metadata.generation };
}

const explainFlux = (namespace: string, group: string, version: string, plural: string, name: string) => async () => {
  const { ready, object } = await readyOf(namespace, group, version, plural, name);
  return `${plural} ${namespace}/${name}: Ready=${ready?.status} ${ready?.reason}: ${ready?.message}; status ${JSON.stringify(object.status ?? {})}`;
};

const repoEnv = async (namespace: string) =>
  (
    await k.apps.readNamespacedDeployment({ name: 'catalyst-api', namespace })
  ).spec?.template.spec?.containers[0]?.env?.find((v) => v.name === 'CATALYST_GITOPS_REPO_URL')?.value;

test('kustomize-controller applies the upstream GitOps repository, and re-applies Git over a live edit', async () => {
  const ns = await testNamespace('gitops', cleanups);
  await createUpstreamGitRepository(ns, 'upstream', { url: e.git.repoURL, ref: { branch: e.git.branch } });
  await createFlux(ns, 'kustomize.toolkit.fluxcd.io', 'v1', 'kustomizations', 'Kustomization', 'catalyst', {
    interval: '10m',
    prune: true,
    path: './products/catalyst',
    targetNamespace: ns,
    sourceRef: { kind: 'GitRepository', name: 'upstream' },
  });
  const flux = ['kustomize.toolkit.fluxcd.io', 'v1', 'kustomizations', 'catalyst'] as const;
  const applied = await eventually(
    'Kustomization catalyst Ready on the upstream revision',
    async () => {
      const r = await readyOf(ns, ...flux);
      return r.ready?.status === 'True' && r.current ? r.object : undefined;
    },
    90_000,
    explainFlux(ns, ...flux),
  );
  assert.match(applied.status?.lastAppliedRevision ?? '', /^main@sha1:[0-9a-f]{40}$/);
  assert.equal(await repoEnv(ns), e.git.repoURL, 'the env var as Git has it');
  const deployment = await k.apps.readNamespacedDeployment({ name: 'catalyst-api', namespace: ns });
  assert.equal(deployment.metadata?.labels?.['kustomize.toolkit.fluxcd.io/name'], 'catalyst', 'owner label');

  // A live edit, as a live-only pivot would make it…
  await k.apps.patchNamespacedDeployment({
    name: 'catalyst-api',
    namespace: ns,
    body: [
      {
        op: 'replace',
        path: '/spec/template/spec/containers/0/env/0/value',
        value: 'http://gitea.local/openova/openova.git',
      },
    ],
  });
  assert.equal(await repoEnv(ns), 'http://gitea.local/openova/openova.git');
  // …is undone by the next reconcile.
  await k.custom.patchNamespacedCustomObject(
    {
      group: flux[0],
      version: flux[1],
      namespace: ns,
      plural: flux[2],
      name: flux[3],
      body: { metadata: { annotations: { [REQUESTED_AT]: new Date().toISOString() } } },
    },
    mergePatch,
  );
  await eventually('the upstream URL re-applied from Git', async () => (await repoEnv(ns)) === e.git.repoURL, 60_000);
});

test('helm-controller installs an OCI chart from the ghcr stand-in', async () => {
  const ns = await testNamespace('helm', cleanups);
  await createFlux(ns, 'source.toolkit.fluxcd.io', 'v1', 'helmrepositories', 'HelmRepository', 'charts', {
    type: 'oci',
    interval: '10m',
    url: `oci://${e.upstreams.ghcr.host}/openova-io`,
    insecure: true,
  });
  await createFlux(ns, 'helm.toolkit.fluxcd.io', 'v2', 'helmreleases', 'HelmRelease', 'blueprint', {
    interval: '10m',
    chart: { spec: { chart: 'bp-flux', version: '2.4.0', sourceRef: { kind: 'HelmRepository', name: 'charts' } } },
  });
  await eventually(
    'HelmRelease blueprint Ready',
    async () => {
      const r = await readyOf(ns, 'helm.toolkit.fluxcd.io', 'v2', 'helmreleases', 'blueprint');
      return r.ready?.status === 'True' && r.current;
    },
    90_000,
    explainFlux(ns, 'helm.toolkit.fluxcd.io', 'v2', 'helmreleases', 'blueprint'),
  );
  const marker = await k.core.readNamespacedConfigMap({ name: 'blueprint-marker', namespace: ns });
  assert.deepEqual(marker.data, { chart: 'bp-flux', version: '2.4.0' }, 'the chart rendered by Helm');
  assert.equal(marker.metadata?.labels?.['app.kubernetes.io/managed-by'], 'Helm');
});

test('the lab Sovereign is bootstrapped the Flux way: its objects are applied by Kustomizations and HelmReleases from Git', async () => {
  const labels = async (namespace: string, group: string, version: string, plural: string, name: string) =>
    ((await k.custom.getNamespacedCustomObject({ group, version, namespace, plural, name })) as FluxObject).metadata
      .labels ?? {};
  const owner = (l: Record<string, string>, prefix: string) => `${l[`${prefix}/namespace`]}/${l[`${prefix}/name`]}`;
  const ks = 'kustomize.toolkit.fluxcd.io';
  // The root applies itself, the sources, the HelmReleases, the child Kustomizations and the tenant's source.
  assert.equal(
    owner(await labels('flux-system', ks, 'v1', 'kustomizations', 'flux-system'), ks),
    'flux-system/flux-system',
  );
  for (const [ns, plural, name] of [
    ['flux-system', 'gitrepositories', 'openova'],
    ['flux-system', 'ocirepositories', 'platform-chart'],
    ['tenant-a', 'gitrepositories', 'tenant-a'],
  ] as const)
    assert.equal(
      owner(await labels(ns, 'source.toolkit.fluxcd.io', 'v1', plural, name), ks),
      'flux-system/flux-system',
    );
  // The tenant's own objects come from its Kustomization (impersonating its ServiceAccount, into its namespace).
  assert.equal(
    owner(await labels('tenant-a', 'source.toolkit.fluxcd.io', 'v1', 'helmrepositories', 'tenant-charts'), ks),
    'tenant-a/tenant-a',
  );
  const api = await k.apps.readNamespacedDeployment({ name: 'catalyst-api', namespace: 'catalyst-system' });
  assert.equal(
    owner(api.metadata?.labels ?? {}, ks),
    'flux-system/catalyst',
    'catalyst-api from the child Kustomization',
  );
  // helm-controller installed the charts: their workloads run on upstream images.
  const platform = await k.apps.readNamespacedDeployment({ name: 'tenant-platform', namespace: 'tenant-a' });
  assert.equal(owner(platform.metadata?.labels ?? {}, 'helm.toolkit.fluxcd.io'), 'tenant-a/tenant-platform');
  assert.equal(platform.spec?.template.spec?.containers[0]?.image, `${e.upstreams.docker.host}/grafana/grafana:11.4.0`);
  const certManager = await k.apps.readNamespacedDeployment({ name: 'bp-cert-manager', namespace: 'flux-system' });
  assert.equal(owner(certManager.metadata?.labels ?? {}, 'helm.toolkit.fluxcd.io'), 'flux-system/bp-cert-manager');
  assert.equal(
    certManager.spec?.template.spec?.containers[0]?.image,
    `${e.upstreams.quay.host}/jetstack/cert-manager-controller:v1.16.1`,
  );
});
