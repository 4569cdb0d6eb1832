// Runs alone (a hold makes the lab cut its upstream, as a CNI would): the egress hold is a
// default-deny NetworkPolicy in every namespace, plus a CiliumClusterwideNetworkPolicy where
// Cilium's CRD exists; removing it removes every piece, and the lab's upstream comes back.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { KubeCluster } from '../../src/adapters/kube/cluster.ts';
import { buildStepEnv } from '../../src/composition.ts';
import { parseValues } from '../../src/core/values.ts';
import { applyHolds, removeHolds } from '../../src/steps/egress-block-test.ts';
import { status } from '../../lab/lab.ts';
import { CCNP_STAND_IN, eventually, kube, standInCrd } from '../support/kube.ts';
import { cleanupsAfterAll, lab } from '../support/lab.ts';

const e = lab();
const k = kube();
const cluster = KubeCluster.connect(e.kube.kubeconfig);
const cleanups = cleanupsAfterAll();

test('the hold covers every namespace (and Cilium cluster-wide when its CRD exists); removal leaves nothing and upstream returns', async () => {
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
  }
  await eventually(
    'the lab (as a CNI) cut the upstream',
    async () => (await status()).filter((p) => p.role === 'upstream').every((p) => !p.up),
    30_000,
  );

  assert.equal(await removeHolds(ctx), held.length + 1);
  assert.equal(await removeHolds(ctx), 0, 'nothing left');
  await eventually('the upstream back', async () => (await status()).every((p) => p.up), 60_000);
});
