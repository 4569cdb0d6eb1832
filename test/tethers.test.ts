// `cutover tethers` against the lab: a tether planted in each place the inventory must look —
// every workload kind (scaled to zero, suspended, init and ephemeral containers, image volumes),
// env vars, ConfigMaps, Flux Git/Helm/OCI/Bucket sources (suspended too), HelmCharts (a version
// range as Flux resolved it) and HelmReleases (chart and chartRef), a Crossplane Provider, a pull
// Secret, a node's registry route — is found with its field path, normalised reference, digest and
// local target; credentials in a URL never show; an explicit exemption is honoured, and prewarm
// leaves exempt artifacts alone.
import { NODE_REPORT } from '../src/core/contracts.ts';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { REPO_ROOT } from '../lab/topology.ts';
import { KubeCluster } from '../src/adapters/kube/cluster.ts';
import { DistributionClient } from '../src/adapters/oci/distribution-client.ts';
import { parseValues } from '../src/core/values.ts';
import { collectArtifacts } from '../src/inventory/artifacts.ts';
import type { Tether, TetherSummary } from '../src/inventory/tethers.ts';
import { labValuesFile } from './support/api.ts';
import { eventually, kube, standInCrd, testNamespace } from './support/kube.ts';
import { cleanupsAfterAll, lab } from './support/lab.ts';

const e = lab();
const k = kube();
const cleanups = cleanupsAfterAll();
const ghcr = e.upstreams.ghcr.host;
const git = e.git.repoURL;

test('every planted tether is found where it is, with its reference, digest and local target', async () => {
  const ns = await testNamespace('tethers', cleanups);
  cleanups.push(
    await standInCrd({
      group: 'pkg.crossplane.io',
      plural: 'providers',
      kind: 'Provider',
      version: 'v1',
      scope: 'Cluster',
    }),
  );
  const nowhere = { nodeSelector: { 'sovereign.lab/no-such-node': 'true' } };
  const template = (image: string, extra: Record<string, unknown> = {}) => ({
    metadata: { labels: { app: 't' } },
    spec: { ...nowhere, containers: [{ name: 'c', image }], ...extra },
  });
  const selector = { matchLabels: { app: 't' } };
  await k.apps.createNamespacedDeployment({
    namespace: ns,
    body: {
      metadata: { name: 'zero' },
      spec: {
        replicas: 0,
        selector,
        template: {
          metadata: { labels: { app: 't' } },
          spec: {
            initContainers: [{ name: 'init', image: `${ghcr}/openova-io/catalyst-api:1.0.0` }],
            containers: [
              {
                name: 'c',
                image: 'nginx',
                env: [
                  { name: 'REPO', value: git },
                  { name: 'TOKEN_URL', value: `https://x-access-token:tok-never-shown@${ghcr}/openova-io/private` },
                ],
              },
            ],
          },
        },
      },
    },
  });
  await k.apps.createNamespacedStatefulSet({
    namespace: ns,
    body: {
      metadata: { name: 'sts' },
      spec: {
        replicas: 0,
        serviceName: 'sts',
        selector,
        template: template(`${e.upstreams.docker.host}/library/postgres:16`),
      },
    },
  });
  await k.apps.createNamespacedDaemonSet({
    namespace: ns,
    body: {
      metadata: { name: 'ds' },
      spec: { selector, template: template(`${e.upstreams.quay.host}/cilium/cilium:v1.16.5`) },
    },
  });
  await k.apps.createNamespacedReplicaSet({
    namespace: ns,
    body: {
      metadata: { name: 'rs' },
      spec: { replicas: 0, selector, template: template(`${ghcr}/fluxcd/helm-controller:v1.1.0`) },
    },
  });
  await k.batch.createNamespacedJob({
    namespace: ns,
    body: {
      metadata: { name: 'job' },
      spec: {
        suspend: true,
        template: {
          spec: {
            restartPolicy: 'Never',
            containers: [{ name: 'c', image: `${ghcr}/fluxcd/source-controller:v1.4.1` }],
          },
        },
      },
    },
  });
  await k.batch.createNamespacedCronJob({
    namespace: ns,
    body: {
      metadata: { name: 'cron' },
      spec: {
        schedule: '0 0 1 1 *',
        suspend: true,
        jobTemplate: {
          spec: {
            template: {
              spec: {
                restartPolicy: 'Never',
                containers: [{ name: 'c', image: `${e.upstreams.docker.host}/library/redis:7` }],
              },
            },
          },
        },
      },
    },
  });
  await k.core.createNamespacedPod({
    namespace: ns,
    body: {
      metadata: { name: 'pod' },
      spec: {
        nodeName: 'no-such-node',
        containers: [{ name: 'c', image: `${ghcr}/openova-io/node-agent:0.3.0` }],
        volumes: [{ name: 'data', image: { reference: `${ghcr}/openova-io/catalyst-ui:1.0.0` } } as never],
      },
    },
  });
  const pod = await k.core.readNamespacedPod({ name: 'pod', namespace: ns });
  await k.core.replaceNamespacedPodEphemeralcontainers({
    name: 'pod',
    namespace: ns,
    body: {
      ...pod,
      spec: { ...pod.spec!, ephemeralContainers: [{ name: 'debug', image: `${ghcr}/openova-io/debug:1.0.0` }] },
    },
  });
  await k.core.createNamespacedConfigMap({
    namespace: ns,
    body: { metadata: { name: 'settings' }, data: { 'chart-repo': `charts come from oci://${ghcr}/openova-io today` } },
  });
  await k.core.createNamespacedConfigMap({
    namespace: ns,
    body: { metadata: { name: 'kept' }, data: { url: `${git}` } },
  });
  await k.core.createNamespacedSecret({
    namespace: ns,
    body: {
      metadata: { name: 'pull' },
      type: 'kubernetes.io/dockerconfigjson',
      stringData: {
        '.dockerconfigjson': JSON.stringify({
          auths: { [ghcr]: { auth: Buffer.from('u:never-shown').toString('base64') } },
        }),
      },
    },
  });
  const flux = (
    plural: string,
    kind: string,
    name: string,
    spec: Record<string, unknown>,
    group = 'source.toolkit.fluxcd.io',
    version = 'v1',
  ) =>
    k.custom.createNamespacedCustomObject({
      group,
      version,
      namespace: ns,
      plural,
      body: { apiVersion: `${group}/${version}`, kind, metadata: { name }, spec: { interval: '24h', ...spec } },
    });
  await flux('gitrepositories', 'GitRepository', 'repo', { url: git, ref: { branch: 'main' } });
  await flux('helmrepositories', 'HelmRepository', 'charts', {
    type: 'oci',
    url: `oci://${ghcr}/openova-io`,
    insecure: true,
    interval: '1m',
  });
  await flux('helmrepositories', 'HelmRepository', 'frozen', {
    type: 'oci',
    url: `oci://${ghcr}/openova-io/frozen`,
    suspend: true,
  });
  await flux('ocirepositories', 'OCIRepository', 'manifests', {
    url: `oci://${ghcr}/openova-io/manifests`,
    ref: { tag: 'v1' },
  });
  await flux('buckets', 'Bucket', 'bucket', { endpoint: ghcr, bucketName: 'b' });
  // A version range: the lab's source-controller resolves it against the ghcr stand-in's tags.
  await flux('helmcharts', 'HelmChart', 'chart', {
    chart: 'bp-cilium',
    version: '1.16.x',
    interval: '1m',
    sourceRef: { kind: 'HelmRepository', name: 'charts' },
  });
  await flux(
    'helmreleases',
    'HelmRelease',
    'release',
    { chart: { spec: { chart: 'bp-cilium', sourceRef: { kind: 'HelmRepository', name: 'charts' } } } },
    'helm.toolkit.fluxcd.io',
    'v2',
  );
  await flux(
    'helmreleases',
    'HelmRelease',
    'by-ref',
    { chartRef: { kind: 'OCIRepository', name: 'manifests' } },
    'helm.toolkit.fluxcd.io',
    'v2',
  );
  const provider = `provider-${ns}`;
  await k.custom.createClusterCustomObject({
    group: 'pkg.crossplane.io',
    version: 'v1',
    plural: 'providers',
    body: {
      apiVersion: 'pkg.crossplane.io/v1',
      kind: 'Provider',
      metadata: { name: provider },
      spec: { package: 'xpkg.upbound.io/crossplane-contrib/provider-aws:v1.0.0' },
    },
  });
  // A node whose agent reports (in its report ConfigMap, in the agent's namespace — here the test's own)
  // that it still resolves the ghcr stand-in through the mothership.
  await k.core.createNamespacedConfigMap({
    namespace: ns,
    body: {
      metadata: {
        name: NODE_REPORT.name('node-x'),
        labels: {
          'app.kubernetes.io/part-of': 'self-sovereign-cutover',
          'app.kubernetes.io/component': NODE_REPORT.component,
        },
      },
      data: {
        node: 'node-x',
        registriesYaml: 'v2',
        registryHosts: JSON.stringify({ [ghcr]: `${e.mothership.url}/v2/proxy-ghcr` }),
      },
    },
  });

  await eventually("Flux resolved the HelmChart's range", async () => {
    const chart = (await k.custom.getNamespacedCustomObject({
      group: 'source.toolkit.fluxcd.io',
      version: 'v1',
      namespace: ns,
      plural: 'helmcharts',
      name: 'chart',
    })) as { status?: { artifact?: { revision?: string } } };
    return chart.status?.artifact?.revision;
  });

  const values = labValuesFile({
    tethers: { exempt: [{ object: `ConfigMap ${ns}/kept`, reason: 'kept for the test' }] },
    registryPivot: { agentNamespace: ns },
  });
  const r = spawnSync(
    process.execPath,
    [
      join(REPO_ROOT, 'src/cli/main.ts'),
      'tethers',
      '-f',
      values,
      '--kubeconfig',
      e.kube.kubeconfig,
      '-n',
      ns,
      '-o',
      'json',
    ],
    { encoding: 'utf8' },
  );
  assert.equal(r.status, 0, r.stderr);
  assert.doesNotMatch(r.stdout, /never-shown|dTpuZXZlci1zaG93bg|x-access-token/, 'no credential in the output');
  const { tethers } = JSON.parse(r.stdout) as { summary: TetherSummary; tethers: Tether[] };
  const mine = tethers.filter(
    (t) => t.object.includes(` ${ns}/`) || t.object === `Provider ${provider}` || t.object === 'Node node-x',
  );
  const find = (object: string, field: string) => {
    const row = mine.find((t) => t.object === object && t.field === field);
    assert.ok(row, `no row for ${object} ${field}; rows: ${mine.map((t) => `${t.object} ${t.field}`).join(' | ')}`);
    return row;
  };

  const init = find(`Deployment ${ns}/zero`, 'spec.template.spec.initContainers[0].image');
  assert.equal(init.upstream, `${ghcr}/openova-io/catalyst-api:1.0.0`);
  assert.equal(
    init.digest,
    (await new DistributionClient(e.upstreams.ghcr.url).headManifest('openova-io/catalyst-api', '1.0.0'))?.digest,
    'tag resolved to its digest',
  );
  assert.equal(init.local, `${e.localHarbor.host}/proxy-ghcr/openova-io/catalyst-api:1.0.0`);
  const short = find(`Deployment ${ns}/zero`, 'spec.template.spec.containers[0].image');
  assert.deepEqual(
    [short.upstream, short.state, short.local],
    ['docker.io/library/nginx:latest', 'unmapped', ''],
    'short names normalised; no host row → unmapped',
  );
  assert.equal(
    find(`Deployment ${ns}/zero`, 'spec.template.spec.containers[0].env[0].value').local,
    `${e.gitea.url}/openova/openova`,
  );
  const withToken = find(`Deployment ${ns}/zero`, 'spec.template.spec.containers[0].env[1].value');
  assert.deepEqual(
    [withToken.upstream, withToken.local],
    [`https://***@${ghcr}/openova-io/private`, `oci://${e.localHarbor.host}/proxy-ghcr/openova-io/private`],
    'credentials shown as ***, ignored for the map',
  );
  find(`StatefulSet ${ns}/sts`, 'spec.template.spec.containers[0].image');
  find(`DaemonSet ${ns}/ds`, 'spec.template.spec.containers[0].image');
  find(`ReplicaSet ${ns}/rs`, 'spec.template.spec.containers[0].image');
  find(`Job ${ns}/job`, 'spec.template.spec.containers[0].image');
  find(`CronJob ${ns}/cron`, 'spec.jobTemplate.spec.template.spec.containers[0].image');
  find(`Pod ${ns}/pod`, 'spec.containers[0].image');
  assert.equal(find(`Pod ${ns}/pod`, 'spec.ephemeralContainers[0].image').upstream, `${ghcr}/openova-io/debug:1.0.0`);
  assert.equal(
    find(`Pod ${ns}/pod`, 'spec.volumes[0].image.reference').upstream,
    `${ghcr}/openova-io/catalyst-ui:1.0.0`,
  );
  assert.equal(find(`ConfigMap ${ns}/settings`, 'data["chart-repo"]').upstream, `oci://${ghcr}/openova-io`);
  const kept = find(`ConfigMap ${ns}/kept`, 'data["url"]');
  assert.deepEqual([kept.state, kept.reason], ['exempt', 'kept for the test']);
  assert.equal(find(`GitRepository ${ns}/repo`, 'spec.url').local, `${e.gitea.url}/openova/openova`);
  assert.equal(
    find(`HelmRepository ${ns}/charts`, 'spec.url').local,
    `oci://${e.localHarbor.host}/proxy-ghcr/openova-io`,
  );
  find(`HelmRepository ${ns}/frozen`, 'spec.url');
  find(`OCIRepository ${ns}/manifests`, 'spec.url');
  find(`Bucket ${ns}/bucket`, 'spec.endpoint');
  assert.equal(
    find(`HelmChart ${ns}/chart`, 'spec.sourceRef').upstream,
    `oci://${ghcr}/openova-io/bp-cilium:1.16.5`,
    'the range as Flux resolved it',
  );
  find(`HelmRelease ${ns}/release`, 'spec.chart.spec.sourceRef');
  assert.equal(find(`HelmRelease ${ns}/by-ref`, 'spec.chartRef').upstream, `oci://${ghcr}/openova-io/manifests`);
  const pkg = find(`Provider ${provider}`, 'spec.package');
  assert.deepEqual([pkg.kind, pkg.state], ['crossplane-package', 'unmapped']);
  assert.equal(find(`Secret ${ns}/pull`, `.dockerconfigjson auths["${ghcr}"]`).upstream, ghcr);
  assert.equal(find('Node node-x', `certs.d/${ghcr}/hosts.toml`).upstream, `${e.mothership.url}/v2/proxy-ghcr`);

  // Prewarm copies what is tethered, not what is exempt: the unmapped `nginx` fails it until exempted.
  const cluster = KubeCluster.connect(e.kube.kubeconfig);
  const nginx = (inventory: Awaited<ReturnType<typeof collectArtifacts>>) =>
    inventory.unmapped.some((a) => a.foundIn.includes(`Deployment ${ns}/zero`) && a.ref.path === 'library/nginx');
  const labValues = parseValues(readFileSync(labValuesFile({}), 'utf8'));
  assert.ok(nginx(await collectArtifacts(cluster, labValues)), 'unmapped nginx is an artifact prewarm cannot serve');
  labValues.tethers.exempt = [
    { kind: 'image', upstream: 'docker.io/library/nginx:*', reason: 'the test keeps it upstream' },
  ];
  assert.ok(!nginx(await collectArtifacts(cluster, labValues)), 'exempt: not an artifact to copy');
  await k.custom
    .deleteClusterCustomObject({ group: 'pkg.crossplane.io', version: 'v1', plural: 'providers', name: provider })
    .catch(() => undefined);
  // No kubelet will ever confirm the unbound pod's end: remove it now so the namespace can go.
  await k.core.deleteNamespacedPod({ name: 'pod', namespace: ns, gracePeriodSeconds: 0 }).catch(() => undefined);

  const table = spawnSync(
    process.execPath,
    [join(REPO_ROOT, 'src/cli/main.ts'), 'tethers', '-f', values, '--kubeconfig', e.kube.kubeconfig, '-n', ns],
    { encoding: 'utf8' },
  );
  assert.equal(table.status, 0, table.stderr);
  assert.match(table.stdout, /^STATE\s+KIND\s+OBJECT\s+OWNER \(PIVOT KEPT BY\)\s+FIELD\s+UPSTREAM\s+LOCAL/m);
  assert.match(table.stdout, /\d+ tethered, \d+ unmapped \(no host row\), \d+ exempt, \d+ pivoted/);
});

test('an identity that may not list Secrets: `cutover tethers` prints what it read, names what it could not, and exits 1', async () => {
  const ns = await testNamespace('tethers-403', cleanups);
  const name = `tethers-reader-${ns}`;
  await k.core.createNamespacedServiceAccount({ namespace: ns, body: { metadata: { name: 'reader' } } });
  // Everything the inventory reads, except listing Secrets (reading the named credential Secrets stays allowed).
  await k.rbac.createClusterRole({
    body: {
      metadata: { name },
      rules: [
        { apiGroups: [''], resources: ['pods', 'configmaps'], verbs: ['get', 'list'] },
        { apiGroups: [''], resources: ['secrets'], verbs: ['get'] },
        {
          apiGroups: ['apps'],
          resources: ['deployments', 'statefulsets', 'daemonsets', 'replicasets'],
          verbs: ['list'],
        },
        { apiGroups: ['batch'], resources: ['jobs', 'cronjobs'], verbs: ['list'] },
        {
          apiGroups: ['source.toolkit.fluxcd.io', 'helm.toolkit.fluxcd.io', 'pkg.crossplane.io'],
          resources: ['*'],
          verbs: ['list'],
        },
      ],
    },
  });
  cleanups.push(() => k.rbac.deleteClusterRole({ name }).catch(() => undefined));
  await k.rbac.createClusterRoleBinding({
    body: {
      metadata: { name },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name },
      subjects: [{ kind: 'ServiceAccount', name: 'reader', namespace: ns }],
    },
  });
  cleanups.push(() => k.rbac.deleteClusterRoleBinding({ name }).catch(() => undefined));
  const token =
    (
      await k.core.createNamespacedServiceAccountToken({
        name: 'reader',
        namespace: ns,
        body: { spec: { audiences: [], expirationSeconds: 600 } },
      })
    ).status?.token ?? '';
  const config = parseYaml(readFileSync(e.kube.kubeconfig, 'utf8')) as {
    users: Array<{ name: string; user: Record<string, string> }>;
  };
  for (const u of config.users) u.user = { token };
  const dir = mkdtempSync(join(tmpdir(), 'tethers-403-'));
  cleanups.push(async () => rmSync(dir, { recursive: true, force: true }));
  const kubeconfig = join(dir, 'kubeconfig');
  writeFileSync(kubeconfig, stringifyYaml(config));

  const values = labValuesFile({});
  // RBAC takes effect within moments of the binding: until then other sources are refused too.
  const r = await eventually(
    'only the Secrets list refused',
    async () => {
      const run = spawnSync(
        process.execPath,
        [
          join(REPO_ROOT, 'src/cli/main.ts'),
          'tethers',
          '-f',
          values,
          '--kubeconfig',
          kubeconfig,
          '-n',
          'catalyst',
          '-o',
          'json',
        ],
        { encoding: 'utf8' },
      );
      return run.stdout && (JSON.parse(run.stdout) as { summary: TetherSummary }).summary.unreadable.length === 1
        ? run
        : undefined;
    },
    20_000,
  );
  assert.equal(r.status, 1, 'an incomplete inventory is not a success');
  assert.match(
    r.stderr,
    /the inventory is incomplete; could not read: Secrets \(kubernetes\.io\/dockerconfigjson\): HTTP 403/,
  );
  const { summary, tethers } = JSON.parse(r.stdout) as { summary: TetherSummary; tethers: Tether[] };
  assert.deepEqual(summary.unreadable, ['Secrets (kubernetes.io/dockerconfigjson): HTTP 403']);
  assert.ok(
    tethers.some((t) => t.kind === 'image'),
    'what could be read is listed',
  );
  assert.ok(!tethers.some((t) => t.kind === 'pull-secret'));
});
