// The durable pivot where Git already defines the owner's spec.patches (the list is Git's and
// atomic): the entry goes one level up, into the parent Kustomization that applies the owner, and
// survives both reconciling. A patch the owner cannot build is taken out again: the step fails,
// nothing is left half-applied, and the owner builds again. And an object a chart renders is
// pivoted by a post-renderer on its HelmRelease. Real kustomize- and helm-controller, own namespaces.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { stringify } from 'yaml';
import { KubeCluster, mergePatch } from '../src/adapters/kube/cluster.ts';
import { getOwner, HELM_RELEASES, KUSTOMIZATIONS, type FluxOwner } from '../src/adapters/kube/flux-owners.ts';
import { readyCondition, REQUESTED_AT } from '../src/adapters/kube/flux.ts';
import { buildStepEnv } from '../src/composition.ts';
import { CutoverError } from '../src/core/errors.ts';
import { parseValues } from '../src/core/values.ts';
import { catalystApiEnvPatch } from '../src/steps/catalyst-api-env-patch.ts';
import { localRepoURL } from '../src/steps/flux-gitrepository-patch.ts';
import { pivotDurably } from '../src/steps/durable-pivot.ts';
import { createFlux, createUpstreamGitRepository } from './support/flux.ts';
import { eventually, kube, testNamespace } from './support/kube.ts';
import { cleanupsAfterAll, forkUpstreamRepo, lab } from './support/lab.ts';

const e = lab();
const k = kube();
const cluster = KubeCluster.connect(e.kube.kubeconfig);
const cleanups = cleanupsAfterAll();
const ENV = 'CATALYST_GITOPS_REPO_URL';

const env = async (namespace: string) =>
  (
    await k.apps.readNamespacedDeployment({ name: 'catalyst-api', namespace })
  ).spec?.template.spec?.containers[0]?.env?.find((v) => v.name === ENV)?.value;

/** Step 07's context for this Deployment, in the test's own namespace only (never the lab Sovereign's). */
async function step07For(deploymentName: string, namespace: string) {
  const values = parseValues(readFileSync(e.valuesFile, 'utf8'));
  values.flux.namespaces = [];
  values.catalystAPI = { deploymentName, namespace, envVar: ENV };
  return {
    values,
    env: await buildStepEnv(values, cluster, 'catalyst'),
    log: () => {},
    signal: AbortSignal.timeout(120_000),
  };
}

async function kustomization(namespace: string, name: string): Promise<FluxOwner> {
  return (await getOwner(cluster, KUSTOMIZATIONS, { namespace, name }))!;
}

/** Asks the Kustomizations to reconcile, in order, and waits until each handled it. */
async function reconcile(namespace: string, names: string[]): Promise<void> {
  for (const name of names) {
    const token = new Date().toISOString();
    await k.custom.patchNamespacedCustomObject(
      { ...KUSTOMIZATIONS, namespace, name, body: { metadata: { annotations: { [REQUESTED_AT]: token } } } },
      mergePatch,
    );
    await eventually(`Kustomization ${name} to handle ${token}`, async () => {
      const o = await kustomization(namespace, name);
      return o.status?.lastHandledReconcileAt === token && readyCondition(o as never)?.status === 'True';
    });
  }
}

test('Git defines the owner’s spec.patches: the pivot goes into the parent, keeps Git’s patch, and survives both reconciling; a patch the owner cannot build is removed again', async () => {
  const ns = await testNamespace('durable', cleanups);
  const fork = forkUpstreamRepo(cleanups);
  // The child as Git has it, with a patch of its own; the parent applies it (as flux-system applies its children).
  fork.push(
    `tests/${ns}/child.yaml`,
    stringify({
      apiVersion: 'kustomize.toolkit.fluxcd.io/v1',
      kind: 'Kustomization',
      metadata: { name: 'child', namespace: ns },
      spec: {
        interval: '10m',
        path: './products/catalyst',
        prune: true,
        targetNamespace: ns,
        sourceRef: { kind: 'GitRepository', name: 'upstream' },
        patches: [
          {
            patch: stringify({
              apiVersion: 'apps/v1',
              kind: 'Deployment',
              metadata: { name: 'catalyst-api', labels: { 'set-by': 'git' } },
            }),
            target: { kind: 'Deployment', name: 'catalyst-api' },
          },
        ],
      },
    }),
  );
  await createUpstreamGitRepository(ns, 'upstream', { url: fork.url, ref: { branch: 'main' } });
  await createFlux(ns, KUSTOMIZATIONS.group, 'v1', 'kustomizations', 'Kustomization', 'parent', {
    interval: '10m',
    path: `./tests/${ns}`,
    prune: true,
    sourceRef: { kind: 'GitRepository', name: 'upstream' },
  });
  await eventually(
    'catalyst-api applied by the child, with Git’s patch',
    async () => {
      const d = await k.apps.readNamespacedDeployment({ name: 'catalyst-api', namespace: ns }).catch(() => undefined);
      return d?.metadata?.labels?.['set-by'] === 'git';
    },
    90_000,
  );
  assert.equal(await env(ns), e.git.repoURL);

  const ctx = await step07For('catalyst-api', ns);
  const local = localRepoURL(ctx);
  const [change] = await catalystApiEnvPatch.plan(ctx);
  assert.match(
    change?.detail ?? '',
    new RegExp(`durable: spec\\.patches on ${ns}/parent, which applies its Kustomization ${ns}/child`),
  );

  await catalystApiEnvPatch.apply(ctx);
  await catalystApiEnvPatch.verify(ctx);
  assert.equal(await env(ns), local);
  // Our entry is the parent's; the child carries Git's entry and ours, both applied by kustomize-controller.
  const parent = await kustomization(ns, 'parent');
  assert.equal(parent.spec.patches?.length, 1);
  assert.match(parent.spec.patches?.[0]?.patch ?? '', /^# sovereign-cutover: catalyst-api-env-patch Deployment/);
  assert.equal((await kustomization(ns, 'child')).spec.patches?.length, 2);
  for (let round = 1; round <= 2; round++) {
    await reconcile(ns, ['parent', 'child']);
    assert.equal(await env(ns), local, `local after round ${round}`);
    const d = await k.apps.readNamespacedDeployment({ name: 'catalyst-api', namespace: ns });
    assert.equal(d.metadata?.labels?.['set-by'], 'git', 'Git’s own patch still applies');
  }
  assert.deepEqual(await catalystApiEnvPatch.drift!(ctx), [], 'nothing to repair');

  // A pivot the child cannot build (a list field given a string): taken out again, the step fails.
  const bad = pivotDurably(
    ctx.env,
    'test-unbuildable',
    [
      {
        object: {
          apiVersion: 'apps/v1',
          kind: 'Deployment',
          namespace: ns,
          name: 'catalyst-api',
          labels: (await k.apps.readNamespacedDeployment({ name: 'catalyst-api', namespace: ns })).metadata?.labels,
        },
        fields: { spec: { template: { spec: { containers: 'not-a-list' } } } },
        live: async () => assert.fail('an owned object is never patched live'),
        applied: async () => false,
      },
    ],
    AbortSignal.timeout(90_000),
    () => {},
  );
  await assert.rejects(bad, (error: unknown) => error instanceof CutoverError && error.code === 'patch-rejected');
  assert.deepEqual(
    (await kustomization(ns, 'parent')).spec.patches?.map((p) => p.patch.split('\n')[0]),
    [`# sovereign-cutover: catalyst-api-env-patch Deployment ${ns}/catalyst-api`],
    'only the good entry is left',
  );
  await eventually(
    'the child to build again',
    async () => {
      const child = await kustomization(ns, 'child');
      return (
        child.status?.observedGeneration === child.metadata.generation &&
        readyCondition(child as never)?.status === 'True'
      );
    },
    90_000,
  );
  assert.equal(await env(ns), local);
});

test('an object a chart renders is pivoted by a post-renderer on its HelmRelease, and stays local over upgrades', async () => {
  const ns = await testNamespace('durable-helm', cleanups);
  await createFlux(ns, 'source.toolkit.fluxcd.io', 'v1', 'helmrepositories', 'HelmRepository', 'charts', {
    type: 'oci',
    interval: '10m',
    url: `oci://${e.upstreams.ghcr.host}/openova-io`,
    insecure: true,
  });
  await createFlux(ns, 'helm.toolkit.fluxcd.io', 'v2', 'helmreleases', 'HelmRelease', 'web', {
    interval: '10m',
    chart: {
      spec: { chart: 'bp-cert-manager', version: '1.16.1', sourceRef: { kind: 'HelmRepository', name: 'charts' } },
    },
  });
  const deployment = () => k.apps.readNamespacedDeployment({ name: 'web', namespace: ns });
  const release = async () =>
    (await k.custom.getNamespacedCustomObject({ ...HELM_RELEASES, namespace: ns, name: 'web' })) as FluxOwner & {
      status?: { history?: Array<{ version?: number }> };
    };

  await eventually(
    'the chart’s Deployment',
    async () => (await deployment().catch(() => undefined)) !== undefined,
    90_000,
  );
  const webEnv = async () =>
    (await deployment()).spec?.template.spec?.containers[0]?.env?.find((v) => v.name === ENV)?.value;

  const ctx = await step07For('web', ns);
  const local = localRepoURL(ctx);
  const [change] = await catalystApiEnvPatch.plan(ctx);
  assert.match(change?.detail ?? '', new RegExp(`durable: spec\\.postRenderers on its HelmRelease ${ns}/web`));
  await catalystApiEnvPatch.apply(ctx);
  await catalystApiEnvPatch.verify(ctx);
  assert.equal(await webEnv(), local);
  assert.match(
    (await release()).spec.postRenderers?.[0]?.kustomize?.patches?.[0]?.patch ?? '',
    /^# sovereign-cutover: catalyst-api-env-patch Deployment/,
  );
  await eventually(
    'the post-renderer recorded as a Helm upgrade (release v2)',
    async () => ((await release()).status?.history?.[0]?.version ?? 0) >= 2,
  );
  // helm-controller re-renders the chart on every upgrade: the post-renderer goes with it.
  for (let round = 1; round <= 2; round++) {
    const token = new Date().toISOString();
    await k.custom.patchNamespacedCustomObject(
      {
        ...HELM_RELEASES,
        namespace: ns,
        name: 'web',
        body: { metadata: { annotations: { [REQUESTED_AT]: token, 'reconcile.fluxcd.io/forceAt': token } } },
      },
      mergePatch,
    );
    await eventually(
      `HelmRelease web forced to upgrade (${round})`,
      async () => {
        const r = await release();
        return r.status?.lastHandledReconcileAt === token && readyCondition(r as never)?.status === 'True';
      },
      90_000,
    );
    assert.equal(await webEnv(), local, `local after forced upgrade ${round}`);
  }
  const upgraded = (await release()).status?.history?.[0]?.version ?? 0;
  assert.ok(upgraded >= 4, `two more releases were rendered (now at ${upgraded})`);
  assert.deepEqual(await catalystApiEnvPatch.drift!(ctx), [], 'nothing to repair');
});
