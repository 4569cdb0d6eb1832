// The jobs executor against the lab: step ConfigMaps in the seed label contract are discovered
// (malformed ones fail loudly), and a job-mode step runs as a Job of the project's image under its
// own ServiceAccount — the lab kubelet runs `cutover step …` with the pod's in-cluster identity.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import { stringify } from 'yaml';
import { KubeCluster } from '../src/adapters/kube/cluster.ts';
import { buildStepEnv } from '../src/composition.ts';
import { CutoverError } from '../src/core/errors.ts';
import { parseValues } from '../src/core/values.ts';
import { STEP_LABELS } from '../src/core/contracts.ts';
import { discoverSteps } from '../src/engine/discovery.ts';
import { JOB_GRACE_SECONDS, JOB_TTL_SECONDS, JobsExecutor } from '../src/engine/jobs-executor.ts';
import { giteaMirror } from '../src/steps/gitea-mirror.ts';
import { harborProjects } from '../src/steps/harbor-projects.ts';
import { eventually, kube, testNamespace } from './support/kube.ts';
import { cleanupsAfterAll, dropGiteaOrg, lab, uniqueName } from './support/lab.ts';

const e = lab();
const k = kube();
const cluster = KubeCluster.connect(e.kube.kubeconfig);
const cleanups = cleanupsAfterAll();

function stepConfigMap(name: string, order: string, stepName: string, podSpec?: unknown, mode = 'job') {
  return {
    metadata: {
      name,
      labels: {
        'app.kubernetes.io/part-of': 'self-sovereign-cutover',
        'app.kubernetes.io/component': 'cutover-step',
        [STEP_LABELS.order]: order,
        [STEP_LABELS.mode]: mode,
      },
    },
    data: { stepName, ...(podSpec ? { podSpec: stringify(podSpec) } : {}) },
  };
}

test('discovery orders step ConfigMaps by label and fails loudly on a malformed one', async () => {
  const namespace = await testNamespace('discover', cleanups);
  const policy = { images: ['x'], serviceAccount: 'runner' };
  await assert.rejects(
    discoverSteps(cluster, namespace, policy),
    (err: unknown) => err instanceof CutoverError && err.code === 'no-steps-found',
  );
  const pod = { containers: [{ name: 'step', image: 'x' }] };
  await k.core.createNamespacedConfigMap({
    namespace,
    body: stepConfigMap('cutover-step-02-harbor-projects', '2', 'harbor-projects', pod),
  });
  await k.core.createNamespacedConfigMap({
    namespace,
    body: stepConfigMap('cutover-step-01-gitea-mirror', '1', 'gitea-mirror', pod),
  });
  assert.deepEqual(
    (await discoverSteps(cluster, namespace, policy)).map((s) => s.stepName),
    ['gitea-mirror', 'harbor-projects'],
  );
  await k.core.createNamespacedConfigMap({
    namespace,
    body: stepConfigMap('cutover-step-xx-broken', 'three', 'harbor-prewarm', pod),
  });
  await assert.rejects(
    discoverSteps(cluster, namespace, policy),
    /cutover-step-xx-broken: label bp\.openova\.io\/cutover-order "three" is not an integer/,
  );
  await k.core.deleteNamespacedConfigMap({ name: 'cutover-step-xx-broken', namespace });
  // Step pods run as the runner: one is rebuilt under the policy, never taken verbatim.
  // Without a ServiceAccount a step pod gets none (the namespace's default: fewer rights); the runner's is kept.
  const [first] = await discoverSteps(cluster, namespace, policy);
  assert.equal(first?.podSpec?.serviceAccountName, undefined);
  assert.equal(first?.podSpec?.securityContext?.runAsNonRoot, true);
  assert.equal(first?.podSpec?.containers[0]?.securityContext?.allowPrivilegeEscalation, false);
});

test('the attack: a labelled ConfigMap asking for host access, another identity or another image runs nothing — discovery refuses it, naming the field', async () => {
  const namespace = await testNamespace('discover-attack', cleanups);
  const policy = { images: ['cutover:1'], serviceAccount: 'runner' };
  const step = { name: 'step', image: 'cutover:1' };
  for (const [podSpec, refusal] of [
    [{ containers: [step], hostPID: true }, /data\.podSpec hostPID is not allowed/],
    [{ containers: [step], serviceAccountName: 'flux-system-admin' }, /serviceAccountName "flux-system-admin"/],
    [{ containers: [{ ...step, image: 'evil:latest' }] }, /image "evil:latest" is not the install's image/],
    [
      { containers: [step], volumes: [{ name: 'root', hostPath: { path: '/' } }] },
      /volume "root": hostPath is not allowed/,
    ],
    [{ containers: [{ ...step, securityContext: { privileged: true } }], nodeName: 'n1' }, /nodeName is not allowed/],
  ] as const) {
    const name = 'cutover-step-01-gitea-mirror';
    await k.core.createNamespacedConfigMap({ namespace, body: stepConfigMap(name, '1', 'gitea-mirror', podSpec) });
    await assert.rejects(discoverSteps(cluster, namespace, policy), refusal);
    await k.core.deleteNamespacedConfigMap({ name, namespace });
  }
  // A privileged security context is not refused but never taken: the step's is Pod Security restricted.
  await k.core.createNamespacedConfigMap({
    namespace,
    body: stepConfigMap('cutover-step-01-gitea-mirror', '1', 'gitea-mirror', {
      containers: [{ ...step, securityContext: { privileged: true, runAsUser: 0 } }],
      securityContext: { runAsUser: 0 },
    }),
  });
  const [found] = await discoverSteps(cluster, namespace, policy);
  assert.equal(found?.podSpec?.containers[0]?.securityContext?.privileged, undefined);
  assert.equal(found?.podSpec?.containers[0]?.securityContext?.runAsUser, undefined);
  assert.equal(found?.podSpec?.securityContext?.runAsUser, 65532);
});

test("a job-mode step runs as a Job named, labelled and bounded per the contract; a failing one reports the container's words", async () => {
  const namespace = await testNamespace('jobs', cleanups);
  const org = uniqueName('org');
  const headers = { authorization: `token ${e.gitea.token}` };
  cleanups.push(() => dropGiteaOrg(org));
  // The runner reads the admin Secrets its values name (gitea, harbor, flux-system) — and nothing else here.
  const role = `${namespace}-secrets-reader`;
  await k.rbac.createClusterRole({
    body: { metadata: { name: role }, rules: [{ apiGroups: [''], resources: ['secrets'], verbs: ['get'] }] },
  });
  await k.rbac.createClusterRoleBinding({
    body: {
      metadata: { name: role },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: role },
      subjects: [{ kind: 'ServiceAccount', name: 'runner', namespace }],
    },
  });
  cleanups.push(async () => {
    await k.rbac.deleteClusterRoleBinding({ name: role }).catch(() => undefined);
    await k.rbac.deleteClusterRole({ name: role }).catch(() => undefined);
  });
  await k.core.createNamespacedServiceAccount({ namespace, body: { metadata: { name: 'runner' } } });
  // …and writes the journal here, before each change (an install ships its ConfigMaps; this test creates them).
  await k.rbac.createNamespacedRole({
    namespace,
    body: {
      metadata: { name: 'journal' },
      rules: [{ apiGroups: [''], resources: ['configmaps'], verbs: ['get', 'list', 'create', 'patch'] }],
    },
  });
  await k.rbac.createNamespacedRoleBinding({
    namespace,
    body: {
      metadata: { name: 'journal' },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'journal' },
      subjects: [{ kind: 'ServiceAccount', name: 'runner', namespace }],
    },
  });
  const values = parseValues(readFileSync(e.valuesFile, 'utf8'));
  values.gitea.org = org;
  await k.core.createNamespacedConfigMap({
    namespace,
    body: { metadata: { name: 'cutover-values' }, data: { 'values.yaml': stringify(values) } },
  });
  const podSpec = (step: string, valuesPath: string) => ({
    serviceAccountName: 'runner',
    containers: [
      {
        name: 'step',
        image: values.images.cutover,
        terminationMessagePolicy: 'FallbackToLogsOnError',
        args: ['step', step, '-f', valuesPath],
        env: [{ name: 'POD_NAMESPACE', valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } } }],
        volumeMounts: [{ name: 'values', mountPath: '/etc/cutover-values', readOnly: true }],
      },
    ],
    volumes: [{ name: 'values', configMap: { name: 'cutover-values' } }],
  });
  await k.core.createNamespacedConfigMap({
    namespace,
    body: stepConfigMap(
      'cutover-step-01-gitea-mirror',
      '1',
      'gitea-mirror',
      podSpec('gitea-mirror', '/etc/cutover-values/values.yaml'),
    ),
  });
  await k.core.createNamespacedConfigMap({
    namespace,
    body: stepConfigMap(
      'cutover-step-02-harbor-projects',
      '2',
      'harbor-projects',
      podSpec('harbor-projects', '/etc/cutover-values/missing.yaml'),
    ),
  });

  const policy = { images: [values.images.cutover], serviceAccount: 'runner' };
  const executor = new JobsExecutor(cluster, namespace, await discoverSteps(cluster, namespace, policy), 1700000000);
  const ctx = {
    values,
    env: await buildStepEnv(values, cluster, namespace),
    log: () => {},
    signal: AbortSignal.timeout(120_000),
  };
  const { jobName } = await executor.execute(giteaMirror, ctx);
  assert.equal(jobName, 'cutover-gitea-mirror-1700000000');
  const job = await k.batch.readNamespacedJob({ name: jobName, namespace });
  assert.equal(job.metadata?.labels?.['app.kubernetes.io/component'], 'cutover-job');
  assert.equal(job.metadata?.labels?.['cutover.openova.io/step'], 'gitea-mirror');
  assert.equal(job.spec?.ttlSecondsAfterFinished, JOB_TTL_SECONDS);
  assert.equal(job.spec?.activeDeadlineSeconds, values.stepTimeouts.giteaMirrorSeconds + JOB_GRACE_SECONDS);
  const repo = (await (await fetch(`${e.gitea.url}/api/v1/repos/${org}/openova`, { headers })).json()) as {
    mirror: boolean;
  };
  assert.equal(repo.mirror, true, 'the Job really mirrored the repo, as its own ServiceAccount');
  assert.ok(
    (await k.core.listNamespacedConfigMap({ namespace })).items.some((cm) =>
      cm.metadata?.name?.endsWith('-journal-gitea-mirror'),
    ),
    'the Job journaled the org and mirror it created',
  );

  await assert.rejects(
    executor.execute(harborProjects, ctx),
    (err: unknown) =>
      err instanceof CutoverError && err.code === 'step-job-failed' && /cannot read values file/.test(err.message),
  );
});

test('a step Job whose pod is evicted is not a failure: the Job starts another pod (DisruptionTarget ignored), which completes the step', async () => {
  const namespace = await testNamespace('evicted', cleanups);
  const values = parseValues(readFileSync(e.valuesFile, 'utf8'));
  // The step's pod waits for a URL that answers only once the test serves it — after the first pod was evicted.
  const server = createServer((_, res) => res.end('ok'));
  await new Promise<void>((resolve) => server.listen(0, e.localHarbor.host.split(':')[0], resolve));
  const port = (server.address() as AddressInfo).port;
  server.close(); // closed until the eviction: the URL refuses
  cleanups.push(async () => server.close());
  const url = `http://${e.localHarbor.host.split(':')[0]}:${port}/`;
  await k.core.createNamespacedConfigMap({
    namespace,
    body: stepConfigMap('cutover-step-01-gitea-mirror', '1', 'gitea-mirror', {
      containers: [
        {
          name: 'step',
          image: values.images.cutover,
          args: ['probe', '--expect', 'reachable', '--within', '120', url],
        },
      ],
    }),
  });
  const policy = { images: [values.images.cutover], serviceAccount: 'default' };
  const executor = new JobsExecutor(cluster, namespace, await discoverSteps(cluster, namespace, policy), 1700000001);
  const running = executor.execute(giteaMirror, {
    values,
    env: await buildStepEnv(values, cluster, namespace),
    log: () => {},
    signal: AbortSignal.timeout(150_000),
  });
  const first = await eventually(
    "the step's first pod to run",
    async () =>
      (
        await k.core.listNamespacedPod({ namespace, labelSelector: 'job-name=cutover-gitea-mirror-1700000001' })
      ).items.find((p) => p.status?.phase === 'Running'),
    60_000,
  );
  await k.core.createNamespacedPodEviction({
    name: first.metadata?.name ?? '',
    namespace,
    body: { apiVersion: 'policy/v1', kind: 'Eviction', metadata: { name: first.metadata?.name ?? '', namespace } },
  });
  await eventually(
    'a second pod',
    async () =>
      (
        await k.core.listNamespacedPod({ namespace, labelSelector: 'job-name=cutover-gitea-mirror-1700000001' })
      ).items.some((p) => p.metadata?.name !== first.metadata?.name),
    60_000,
  );
  await new Promise<void>((resolve) => server.listen(port, e.localHarbor.host.split(':')[0], resolve));
  const { jobName } = await running;
  assert.equal(jobName, 'cutover-gitea-mirror-1700000001');
  const job = await k.batch.readNamespacedJob({ name: jobName, namespace });
  assert.equal(job.status?.succeeded, 1);
  assert.equal(job.status?.failed ?? 0, 0, 'the eviction was not counted as a failure');
});
