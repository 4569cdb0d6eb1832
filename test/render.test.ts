// `cutover render`: the dormant install's contract (the original chart's gates, and ours), checked
// on the CLI's output; the whole render is accepted by a server-side dry run on the lab apiserver,
// its step ConfigMaps are discovered as the engine will, and re-applying it never resets status.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import type { KubernetesObject, V1PodSpec } from '@kubernetes/client-node';
import { parseAllDocuments, parse as parseYaml } from 'yaml';
import { REPO_ROOT } from '../lab/topology.ts';
import { serverSideApply } from '../src/adapters/kube/apply.ts';
import { KubeCluster } from '../src/adapters/kube/cluster.ts';
import { discoverSteps } from '../src/engine/discovery.ts';
import { labValuesFile } from './support/api.ts';
import { kube, testNamespace } from './support/kube.ts';
import { cleanupsAfterAll, lab } from './support/lab.ts';

const cleanups = cleanupsAfterAll();
type Doc = KubernetesObject & {
  data?: Record<string, string>;
  rules?: Array<{ verbs: string[]; resources: string[]; resourceNames?: string[] }>;
  spec?: any;
};

function render(valuesFile: string, namespace: string, ...flags: string[]): Doc[] {
  const r = spawnSync(
    process.execPath,
    [join(REPO_ROOT, 'src/cli/main.ts'), 'render', '-f', valuesFile, '-n', namespace, ...flags],
    { encoding: 'utf8' },
  );
  assert.equal(r.status, 0, r.stderr);
  return parseAllDocuments(r.stdout).map((d) => d.toJS() as Doc);
}

const LOCAL = 'harbor.sovereign.lab/proxy-ghcr';

test('render: eight step ConfigMaps in the seed label contract, modes, data keys, images by phase', () => {
  const docs = render(labValuesFile({ global: { imageRegistry: LOCAL } }), 'catalyst');
  const steps = docs.filter(
    (d) => d.kind === 'ConfigMap' && d.metadata?.labels?.['app.kubernetes.io/component'] === 'cutover-step',
  );
  assert.deepEqual(
    steps.map((d) => d.metadata?.name),
    [
      'cutover-step-01-gitea-mirror',
      'cutover-step-02-harbor-projects',
      'cutover-step-03-harbor-prewarm',
      'cutover-step-04-registry-pivot',
      'cutover-step-05-flux-gitrepository-patch',
      'cutover-step-06-helmrepository-patches',
      'cutover-step-07-catalyst-api-env-patch',
      'cutover-step-08-egress-block-test',
    ],
  );
  for (const [i, cm] of steps.entries()) {
    const labels = cm.metadata?.labels ?? {};
    assert.equal(labels['app.kubernetes.io/part-of'], 'self-sovereign-cutover');
    assert.equal(labels['bp.openova.io/cutover-order'], String(i + 1), 'order is a quoted integer');
    assert.ok(cm.data?.stepName);
    if (i === 3) {
      assert.equal(labels['bp.openova.io/cutover-mode'], 'daemonset-wait');
      assert.equal(labels['bp.openova.io/cutover-daemonset'], 'registry-pivot');
      assert.equal(cm.data?.podSpec, undefined);
      continue;
    }
    assert.equal(labels['bp.openova.io/cutover-mode'], 'job');
    const pod = parseYaml(cm.data?.podSpec ?? '') as V1PodSpec;
    const c = pod.containers[0];
    assert.equal(pod.serviceAccountName, 'bp-self-sovereign-cutover-runner');
    assert.deepEqual(c?.args?.slice(0, 2), ['step', cm.data?.stepName]);
    // Pre-pivot steps pull from upstream (nodes still point there); post-pivot from the local registry.
    if (i < 3) assert.equal(c?.image, `${lab().upstreams.ghcr.host}/openova-io/sovereign-cutover:0.1.0`);
    else assert.equal(c?.image, `${LOCAL}/openova-io/sovereign-cutover:0.1.0`);
    assert.ok(JSON.stringify(c?.args).length < 110_000, 'args stay far below MAX_ARG_STRLEN');
  }
  const ds = docs.find((d) => d.kind === 'DaemonSet');
  assert.equal(ds?.metadata?.name, 'registry-pivot');
  assert.deepEqual(ds?.spec.template.spec.containers[0].args.slice(0, 1), ['agent']);
  assert.deepEqual(
    ds?.spec.template.spec.volumes.filter((v: any) => v.hostPath).map((v: any) => v.hostPath.path),
    ['/etc/containerd/certs.d', '/etc/rancher/k3s'],
  );
  // Two Deployments, two identities (ADR 0021): the API runs nothing, the controller is the runner.
  const deployments = docs.filter((d) => d.kind === 'Deployment');
  assert.deepEqual(
    deployments.map((d) => [
      d.metadata?.name,
      d.spec.template.spec.serviceAccountName,
      d.spec.template.spec.containers[0].args.slice(0, 3).join(' '),
      (d.spec.template.spec.containers[0].ports ?? []).length,
    ]),
    [
      ['self-sovereign-cutover-api', 'bp-self-sovereign-cutover-api', 'serve --role api', 1],
      ['self-sovereign-cutover-controller', 'bp-self-sovereign-cutover-runner', 'serve --role controller', 0],
    ],
  );
  // The catalogue's Blueprint only when asked: a plain apply on a cluster without its CRD must not fail.
  assert.ok(!docs.some((d) => d.kind === 'Blueprint'));
  const bp = render(labValuesFile({ global: { imageRegistry: LOCAL } }), 'catalyst', '--blueprint').find(
    (d) => d.kind === 'Blueprint',
  );
  assert.equal(bp?.apiVersion, 'catalyst.openova.io/v1alpha1');
  assert.deepEqual(bp?.spec.depends, ['bp-gitea', 'bp-harbor']);
  assert.ok(!docs.some((d) => d.metadata?.annotations?.['helm.sh/hook']), 'no Helm hooks');
});

test('render: the status ConfigMap carries no data and is kept; RBAC creates by name only beside patch (server-side apply)', () => {
  const docs = render(lab().valuesFile, 'catalyst');
  const status = docs.find((d) => d.metadata?.name === 'self-sovereign-cutover-status');
  assert.equal(status?.metadata?.annotations?.['helm.sh/resource-policy'], 'keep');
  assert.equal(status?.data, undefined, 'an upgrade cannot reset live status');
  const rules = docs.filter((d) => d.kind === 'ClusterRole' || d.kind === 'Role').flatMap((d) => d.rules ?? []);
  assert.ok(rules.length > 10);
  // A create by name is a server-side apply: patch on that name must be granted beside it.
  for (const doc of docs.filter((d) => d.kind === 'ClusterRole' || d.kind === 'Role'))
    for (const rule of (doc.rules ?? []).filter((r) => r.verbs.includes('create') && r.resourceNames))
      assert.ok(
        (doc.rules ?? []).some(
          (p) =>
            p.verbs.includes('patch') &&
            p.resources[0] === rule.resources[0] &&
            (!p.resourceNames || rule.resourceNames?.every((n) => p.resourceNames?.includes(n))),
        ),
        `create by name without patch: ${JSON.stringify(rule)}`,
      );
  assert.ok(!rules.some((r) => r.verbs.includes('*')), 'no wildcard verbs');
  const bindings = docs.filter((d) => d.kind === 'RoleBinding' || d.kind === 'ClusterRoleBinding');
  assert.ok(bindings.every((b: any) => b.subjects.every((s: any) => s.kind === 'ServiceAccount')));
});

test('render: the lab apiserver accepts the whole render (server-side dry run); its steps are discovered in order', async () => {
  const namespace = await testNamespace('render', cleanups);
  // A dry run creates no Namespace, so the node agent's (`<install>-agent`) must exist for the objects in it.
  const agentNamespace = `${namespace}-agent`;
  await kube().core.createNamespace({ body: { metadata: { name: agentNamespace } } });
  cleanups.push(() => kube().core.deleteNamespace({ name: agentNamespace }));
  const docs = render(lab().valuesFile, namespace);
  const config = kube().config;
  await serverSideApply(config, docs, 'render-test', { dryRun: true });
  const cluster = KubeCluster.connect(lab().kube.kubeconfig);
  await serverSideApply(
    config,
    docs.filter((d) => d.kind === 'ConfigMap'),
    'render-test',
  );
  const found = await discoverSteps(cluster, namespace, {
    images: [(parseYaml(readFileSync(lab().valuesFile, 'utf8')) as { images: { cutover: string } }).images.cutover],
    serviceAccount: 'bp-self-sovereign-cutover-runner',
  });
  assert.deepEqual(
    found.map((s) => `${s.order}:${s.stepName}:${s.mode}`),
    [
      '1:gitea-mirror:job',
      '2:harbor-projects:job',
      '3:harbor-prewarm:job',
      '4:registry-pivot:daemonset-wait',
      '5:flux-gitrepository-patch:job',
      '6:helmrepository-patches:job',
      '7:catalyst-api-env-patch:job',
      '8:egress-block-test:job',
    ],
  );
  // Live status survives re-applying the install.
  const { core } = kube();
  await core.patchNamespacedConfigMap(
    {
      name: 'self-sovereign-cutover-status',
      namespace,
      body: { data: { cutoverComplete: 'true', registriesYamlActive: 'v2' } },
    },
    (await import('../src/adapters/kube/cluster.ts')).mergePatch,
  );
  await serverSideApply(
    config,
    docs.filter((d) => d.kind === 'ConfigMap'),
    'render-test',
  );
  const after = await core.readNamespacedConfigMap({ name: 'self-sovereign-cutover-status', namespace });
  assert.deepEqual(after.data, { cutoverComplete: 'true', registriesYamlActive: 'v2' });
});

test('render: bad input is refused before anything is printed', () => {
  const r = spawnSync(
    process.execPath,
    [join(REPO_ROOT, 'src/cli/main.ts'), 'render', '-f', labValuesFile({ api: { port: 'eighty' } })],
    { encoding: 'utf8' },
  );
  assert.equal(r.status, 2);
  assert.equal(r.stdout, '');
  assert.match(r.stderr, /api\.port/);
});
