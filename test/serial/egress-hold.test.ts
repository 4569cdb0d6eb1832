// Runs alone (a hold covers every namespace): the egress hold is a default-deny NetworkPolicy in
// every namespace, plus a CiliumClusterwideNetworkPolicy where Cilium's CRD exists; removing it
// removes every piece. The lab network enforces it (kube-network-policies): a pod's call-home is
// dropped while the apiserver and the local peers stay reachable. A hold
// no run owns is reaped by `cutover serve` without a new run. Step 08 cannot pass when its proof shows
// nothing: upstream already unreachable, or a network that ignores the hold. The hold goes on every
// exit path: the engine losing its Lease mid-hold, the step Job killed at its deadline mid-hold.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, statSync } from 'node:fs';
import { test } from 'node:test';
import { KubeCluster, mergePatch, microTime } from '../../src/adapters/kube/cluster.ts';
import { StatusStore } from '../../src/adapters/kube/status-store.ts';
import { buildStepEnv } from '../../src/composition.ts';
import { CutoverError } from '../../src/core/errors.ts';
import { parseValues } from '../../src/core/values.ts';
import { Engine } from '../../src/engine/engine.ts';
import { LocalExecutor } from '../../src/engine/local-executor.ts';
import { SingleFlight } from '../../src/engine/single-flight.ts';
import { applyHolds, egressBlockTest, holdsLeft, removeHolds } from '../../src/steps/egress-block-test.ts';
import { cutUpstream, restoreUpstream, setPolicyEnforcement, status } from '../../lab/lab.ts';
import { CCNP_STAND_IN, eventually, kube, standInCrd, testNamespace } from '../support/kube.ts';
import { startServe } from '../support/api.ts';
import { NET, PORTS } from '../../lab/topology.ts';
import { NETWORK_POLICIES_LOG } from '../../lab/network/network-policies.ts';
import { probeFromPod } from '../support/probe-pod.ts';
import { restrictedPod } from '../../src/core/pod-security.ts';
import { stringify } from 'yaml';
import { cleanupsAfterAll, lab } from '../support/lab.ts';

const e = lab();
const k = kube();
const cluster = KubeCluster.connect(e.kube.kubeconfig);
const cleanups = cleanupsAfterAll();
const cli = new URL('../../src/cli/main.ts', import.meta.url).pathname;

test('the hold covers every namespace (and Cilium cluster-wide when its CRD exists); removal leaves nothing', async () => {
  cleanups.push(await standInCrd(CCNP_STAND_IN));

  const values = parseValues(readFileSync(e.valuesFile, 'utf8'));
  const ctx = {
    values,
    env: await buildStepEnv(values, cluster, 'catalyst'),
    log: () => {},
    signal: AbortSignal.timeout(60_000),
  };
  cleanups.push(() => removeHolds(ctx));
  await applyHolds(ctx);
  const ccnp = (await k.custom.getClusterCustomObject({
    group: 'cilium.io',
    version: 'v2',
    plural: 'ciliumclusterwidenetworkpolicies',
    name: 'cutover-egress-block',
  })) as { spec: { endpointSelector: object; enableDefaultDeny: { egress: boolean } } };
  assert.deepEqual(ccnp.spec.endpointSelector, {});
  assert.equal(ccnp.spec.enableDefaultDeny.egress, true);
  const apiserver = await k.core.readNamespacedService({ name: 'kubernetes', namespace: 'default' });
  const namespaces = (await k.core.listNamespace()).items
    .filter((n) => n.status?.phase === 'Active')
    .map((n) => n.metadata?.name);
  const held = (
    await k.config
      .makeApiClient((await import('@kubernetes/client-node')).NetworkingV1Api)
      .listNetworkPolicyForAllNamespaces({ labelSelector: 'app.kubernetes.io/component=cutover-egress-hold' })
  ).items;
  for (const ns of namespaces) {
    const policy = held.find((p) => p.metadata?.namespace === ns);
    assert.ok(policy, `hold in ${ns}`);
    assert.deepEqual(policy.spec?.policyTypes, ['Egress']);
    assert.deepEqual({ ...policy.spec?.podSelector }, {}, 'every pod of the namespace');
    assert.ok(
      policy.spec?.egress?.some(
        (rule) =>
          rule.to?.some((to) => to.ipBlock?.cidr === `${apiserver.spec?.clusterIP}/32`) &&
          rule.ports?.some((p) => p.protocol === 'TCP' && p.port === apiserver.spec?.ports?.[0]?.port),
      ),
      `the apiserver (${apiserver.spec?.clusterIP}) stays reachable from ${ns}`,
    );
  }

  assert.equal(await removeHolds(ctx), held.length + 1);
  assert.equal(await removeHolds(ctx), 0, 'nothing left');
});

test(
  'the network enforces the hold: a pod reaches upstream a moment before it and not under it, the apiserver and the local peers stay reachable, and reach returns when it goes',
  { timeout: 300_000 },
  async () => {
    const namespace = await testNamespace('hold-net', cleanups);
    const values = parseValues(readFileSync(e.valuesFile, 'utf8'));
    const ctx = {
      values,
      env: await buildStepEnv(values, cluster, namespace),
      log: () => {},
      signal: AbortSignal.timeout(60_000),
    };
    const upstream = values.egressTest.callHomeURLs;
    // The apiserver as pods are told it (the `kubernetes` Service), and the Sovereign's own peers.
    const local = [
      `https://${NET.kubernetesServiceIP}/readyz`,
      `${e.localHarbor.url}/api/v2.0/ping`,
      e.gitea.url,
      e.oidc.issuer,
    ];
    const reachable = (url: string) => probeFromPod(namespace, ['--expect', 'reachable', '--within', '30', url]);

    const before = await Promise.all(upstream.map(reachable));
    for (const [i, r] of before.entries()) assert.equal(r.exitCode, 0, `${upstream[i]} before the hold: ${r.message}`);
    const podIP = before[0]?.pod.status?.podIP ?? '';
    assert.match(podIP, /^10\.42\./, 'the probe ran on the pod network');

    const verdictsFrom = statSync(NETWORK_POLICIES_LOG).size;
    cleanups.push(() => removeHolds(ctx));
    const applied = performance.now();
    await applyHolds(ctx);
    const blocked = await probeFromPod(namespace, ['--within', '30', ...upstream]);
    assert.equal(blocked.exitCode, 0, `every call-home URL blocked: ${blocked.message}`);
    console.log(
      `# hold applied → ${upstream.length} call-home URLs blocked from a pod in ${((performance.now() - applied) / 1000).toFixed(1)} s (the probe pod's own start included)`,
    );
    const stillReachable = await Promise.all(local.map(reachable));
    for (const [i, r] of stillReachable.entries())
      assert.equal(r.exitCode, 0, `${local[i]} stays reachable under the hold: ${r.message}`);
    // The network refused the traffic; the peers themselves stayed up all along.
    assert.ok(
      (await status()).every((p) => p.up),
      'every peer up',
    );
    const verdicts = readFileSync(NETWORK_POLICIES_LOG, 'utf8').slice(verdictsFrom);
    assert.match(verdicts, /verdict="drop"/, 'kube-network-policies dropped the call-home connections');

    assert.ok((await removeHolds(ctx)) > 0);
    const after = await reachable(upstream[0] as string);
    assert.equal(after.exitCode, 0, `upstream reachable again once the hold is gone: ${after.message}`);
  },
);

test('cutover serve reaps a hold no run owns (its engine died after the step failed) without a new run', async () => {
  const namespace = await testNamespace('reap', cleanups);
  // A run that is over (failed), not one to resume: nothing would ever remove its hold but the reaper.
  await k.core.createNamespacedConfigMap({
    namespace,
    body: {
      metadata: { name: 'self-sovereign-cutover-status' },
      data: { cutoverStartedAt: new Date().toISOString(), failedStep: 'egress-block-test', currentStep: '' },
    },
  });
  const values = parseValues(readFileSync(e.valuesFile, 'utf8'));
  const ctx = {
    values,
    env: await buildStepEnv(values, cluster, namespace),
    log: () => {},
    signal: AbortSignal.timeout(60_000),
  };
  cleanups.push(() => removeHolds(ctx));
  await applyHolds(ctx);
  assert.ok((await holdsLeft(cluster)) > 0);
  const api = await startServe(PORTS.api + 4, namespace);
  // Stopped at the end of this test, not of the file: its reaper would take the next test's hold away.
  try {
    const started = performance.now();
    await eventually(
      'the reaper to remove every hold and say so',
      // Both: the policies go before the reaper's log line is written.
      async () => (await holdsLeft(cluster)) === 0 && /reaped \d+ egress hold policies/.test(api.output()),
      30_000,
      async () => api.output(),
    );
    console.log(
      `# stray hold reaped ${((performance.now() - started) / 1000).toFixed(1)} s after cutover serve started`,
    );
    assert.match(api.output(), /reaped \d+ egress hold policies no run owns/);
    const data =
      (await k.core.readNamespacedConfigMap({ name: 'self-sovereign-cutover-status', namespace })).data ?? {};
    assert.equal(data.failedStep, 'egress-block-test', 'no new run was started');
  } finally {
    await api.stop();
  }
});

test(
  'step 08 cannot pass vacuously: with upstream already unreachable it fails as proof-impossible, and under a network that ignores the hold it fails as a LEAK; no hold is left either way',
  { timeout: 300_000 },
  async () => {
    const step = () =>
      spawnSync(
        process.execPath,
        [cli, 'step', 'egress-block-test', '-f', e.valuesFile, '--kubeconfig', e.kube.kubeconfig, '-n', 'catalyst'],
        { encoding: 'utf8' },
      );
    await cutUpstream(() => {});
    try {
      const cutOff = step();
      assert.notEqual(cutOff.status, 0);
      assert.match(`${cutOff.stdout}${cutOff.stderr}`, /no call-home URL answered from a pod before the hold/);
      assert.equal(await holdsLeft(cluster), 0);
    } finally {
      await restoreUpstream(() => {});
    }
    setPolicyEnforcement(false);
    try {
      const started = performance.now();
      const ignored = step();
      console.log(
        `# a hold the network ignores: step 08 failed after ${((performance.now() - started) / 1000).toFixed(1)} s`,
      );
      assert.notEqual(ignored.status, 0);
      assert.match(`${ignored.stdout}${ignored.stderr}`, /LEAK: still reachable under the egress hold/);
      assert.match(ignored.stdout, /egress hold removed/);
      assert.equal(await holdsLeft(cluster), 0);
    } finally {
      setPolicyEnforcement(true);
    }
  },
);

test(
  'an engine that loses its Lease mid-hold stops step 08, and the hold is gone when the engine gives up',
  { timeout: 180_000 },
  async () => {
    const namespace = await testNamespace('lost-lease', cleanups);
    const values = parseValues(readFileSync(e.valuesFile, 'utf8'));
    values.egressTest.durationSeconds = 600; // the Lease is lost well inside the window
    const env = await buildStepEnv(values, cluster, namespace);
    cleanups.push(() => removeHolds({ values, env, log: () => {}, signal: AbortSignal.timeout(60_000) }));
    const lines: string[] = [];
    const engine = new Engine({
      values,
      env,
      steps: [egressBlockTest],
      store: new StatusStore(cluster, namespace, values.status.configMapName),
      lease: new SingleFlight(cluster, namespace, 'engine-under-test'),
      executor: new LocalExecutor(),
      log: (line) => lines.push(line),
    });
    const run = engine.run();
    await eventually(
      'the hold to be applied',
      async () => (await holdsLeft(cluster)) > 0,
      90_000,
      async () => lines.join('\n'),
    );
    // Another engine takes the Lease (as after a partition longer than the Lease).
    await cluster.coordination.patchNamespacedLease(
      {
        name: 'self-sovereign-cutover',
        namespace,
        body: { spec: { holderIdentity: 'another-engine', renewTime: microTime(new Date()) } },
      },
      mergePatch,
    );
    const lost = performance.now();
    await assert.rejects(run, (err: unknown) => err instanceof CutoverError && err.code === 'lease-lost');
    const seconds = ((performance.now() - lost) / 1000).toFixed(1);
    assert.equal(await holdsLeft(cluster), 0, 'no hold outlives the engine that lost its Lease');
    console.log(`# Lease lost mid-hold: the engine gave up ${seconds} s later, with the hold already removed`);
    assert.match(lines.join('\n'), /egress hold removed/);
  },
);

test(
  'a step-08 Job killed at its deadline mid-hold (SIGTERM from the kubelet) removes its hold on the way out',
  { timeout: 240_000 },
  async () => {
    const namespace = await testNamespace('job-deadline', cleanups);
    const values = parseValues(readFileSync(e.valuesFile, 'utf8'));
    values.egressTest.durationSeconds = 600; // the Job's deadline falls inside the window
    cleanups.push(() =>
      removeHolds({ values, env: { cluster } as never, log: () => {}, signal: AbortSignal.timeout(60_000) }),
    );
    // The exit path under test, not RBAC: the Job runs as a ServiceAccount bound to cluster-admin.
    const binding = `${namespace}-step`;
    await k.core.createNamespacedServiceAccount({ namespace, body: { metadata: { name: 'step' } } });
    await k.rbac.createClusterRoleBinding({
      body: {
        metadata: { name: binding },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'cluster-admin' },
        subjects: [{ kind: 'ServiceAccount', name: 'step', namespace }],
      },
    });
    cleanups.push(() => k.rbac.deleteClusterRoleBinding({ name: binding }).catch(() => undefined));
    await k.core.createNamespacedConfigMap({
      namespace,
      body: { metadata: { name: 'values' }, data: { 'values.yaml': stringify(values) } },
    });
    const deadlineSeconds = 45;
    await k.batch.createNamespacedJob({
      namespace,
      body: {
        metadata: { name: 'egress-block-test' },
        spec: {
          backoffLimit: 0,
          activeDeadlineSeconds: deadlineSeconds,
          template: {
            spec: restrictedPod({
              serviceAccountName: 'step',
              restartPolicy: 'Never',
              containers: [
                {
                  name: 'step',
                  image: values.images.cutover,
                  args: ['step', 'egress-block-test', '-f', '/etc/cutover/values.yaml'],
                  env: [{ name: 'POD_NAMESPACE', valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } } }],
                  volumeMounts: [{ name: 'values', mountPath: '/etc/cutover', readOnly: true }],
                },
              ],
              volumes: [{ name: 'values', configMap: { name: 'values' } }],
            }),
          },
        },
      },
    });
    await eventually('the hold to be applied', async () => (await holdsLeft(cluster)) > 0, 60_000);
    const killed = await eventually(
      'the Job to fail at its deadline',
      async () => {
        const job = await k.batch.readNamespacedJob({ name: 'egress-block-test', namespace });
        const failed = job.status?.conditions?.find((c) => c.type === 'Failed' && c.status === 'True');
        return failed ? failed : undefined;
      },
      (deadlineSeconds + 30) * 1000,
    );
    assert.equal(killed.reason, 'DeadlineExceeded');
    const from = performance.now();
    await eventually('no hold left', async () => (await holdsLeft(cluster)) === 0, 30_000);
    console.log(
      `# Job deadline mid-hold: no hold left ${((performance.now() - from) / 1000).toFixed(1)} s after the Job failed`,
    );
  },
);
