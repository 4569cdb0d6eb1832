// Runs alone (it pivots the shared lab nodes, then rolls them back): step 04 starts the node
// agent DaemonSet, every node acks v2 with hosts.toml pointing at the local Harbor, and a canary
// that exists only in the local Harbor starts on every node under its upstream name.
import assert from 'node:assert/strict';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { KubeCluster } from '../../src/adapters/kube/cluster.ts';
import { copyArtifact } from '../../src/prewarm/prewarm.ts';
import { DistributionClient } from '../../src/adapters/oci/distribution-client.ts';
import { buildStepEnv } from '../../src/composition.ts';
import { AGENT, nodeAckKey } from '../../src/core/contracts.ts';
import { parseValues } from '../../src/core/values.ts';
import { NodeReports } from '../../src/adapters/kube/node-reports.ts';
import { StatusStore } from '../../src/adapters/kube/status-store.ts';
import { harborProjects } from '../../src/steps/harbor-projects.ts';
import { registryPivot } from '../../src/steps/registry-pivot.ts';
import { PROJECT_IMAGE } from '../../lab/corpus/spec.ts';
import { eventually, kube, testNamespace } from '../support/kube.ts';
import { cleanupsAfterAll, dropHarborProject, lab, uniqueName } from '../support/lab.ts';

const e = lab();
const k = kube();
const cluster = KubeCluster.connect(e.kube.kubeconfig);
const cleanups = cleanupsAfterAll();

test('04 registry-pivot: agents ack v2 on every node, hosts.toml points at the local Harbor, canaries start; rollback restores the tether', async () => {
  const namespace = await testNamespace('pivot', cleanups);
  const projects = { ghcr: uniqueName('ghcr'), docker: uniqueName('docker'), quay: uniqueName('quay') };
  const values = parseValues(readFileSync(e.valuesFile, 'utf8'));
  // The agent runs apart from the install (its namespace alone may run host-path pods).
  values.registryPivot.agentNamespace = await testNamespace('pivot-agent', cleanups);
  values.harbor.hostProjects = (['ghcr', 'docker', 'quay'] as const).map((u) => ({
    host: e.upstreams[u].host,
    project: projects[u],
    mode: 'mirror' as const,
    upstreamURL: e.upstreams[u].url,
    registryType: 'docker-registry',
    authMode: 'anonymous' as const,
  }));
  const store = new StatusStore(cluster, namespace, values.status.configMapName);
  // The agents report in ConfigMaps of their own (the engine copies the acks into the status).
  const reportsSay = async (want: string) => {
    const reports = await new NodeReports(cluster, values.registryPivot.agentNamespace).list();
    return nodes.every((n) => reports.find((r) => r.node === n)?.registriesYaml === want);
  };
  const nodes = ['node-a', 'node-b'];
  const ghcrToml = (node: string) =>
    readFileSync(join(e.nodes[node as 'node-a'].certsDir, e.upstreams.ghcr.host, 'hosts.toml'), 'utf8');
  const tethered = ghcrToml('node-a');
  cleanups.push(async () => {
    for (const p of Object.values(projects)) await dropHarborProject(p);
  });
  // Roll back first (the namespace, and the agents in it, go after): the shared nodes must end tethered.
  cleanups.push(async () => {
    await store.patch({ registriesYamlActive: 'rollback' }).catch(() => undefined);
    await eventually('every node acked rollback', async () => await reportsSay('rollback'), 60_000).catch(
      () => undefined,
    );
    await k.apps
      .deleteNamespacedDaemonSet({ name: AGENT.daemonSet, namespace: values.registryPivot.agentNamespace })
      .catch(() => undefined);
  });

  const ctx = {
    values,
    env: await buildStepEnv(values, cluster, namespace),
    log: () => {},
    signal: AbortSignal.timeout(180_000),
  };
  await harborProjects.apply(ctx);
  const local = new DistributionClient(e.localHarbor.url, e.localHarbor);
  await copyArtifact(
    new DistributionClient(e.upstreams.ghcr.url),
    PROJECT_IMAGE.repo,
    PROJECT_IMAGE.tag,
    local,
    `${projects.ghcr}/${PROJECT_IMAGE.repo}`,
  );
  await store.ensure();
  await store.patch({ registriesYamlActive: 'v2' });

  // A node that left the cluster after it acked: its keys go (the status does not grow with node churn).
  await store.patch({ [nodeAckKey('node-gone')]: 'v2', 'node.node-gone.registryHosts': '{}' });
  await registryPivot.apply(ctx);
  await registryPivot.verify(ctx);
  const data = (await store.read())!;
  assert.deepEqual(
    Object.keys(data).filter((key) => key.startsWith('node.node-gone.')),
    [],
    "the departed node's keys are pruned",
  );
  for (const node of nodes) {
    assert.equal(data[nodeAckKey(node)], 'v2', `${node} acked`);
    const toml = ghcrToml(node);
    assert.ok(toml.includes(`[host."${e.localHarbor.url}/v2/${projects.ghcr}"]`), `${node} hosts.toml → local Harbor`);
    assert.ok(toml.includes(`server = "${e.localHarbor.url}"`), 'no upstream fallback');
    // HTTPS on the Sovereign's private CA: the CA beside hosts.toml, named on the [host] entry.
    assert.ok(toml.includes('ca = "sovereign-cutover-harbor-ca.crt"'), toml);
    const ca = join(e.nodes[node as 'node-a'].certsDir, e.upstreams.ghcr.host, 'sovereign-cutover-harbor-ca.crt');
    assert.equal(readFileSync(ca, 'utf8'), values.tls.caBundle.trim() + '\n');
  }
  const canaries = (
    await k.core.listNamespacedPod({ namespace, labelSelector: 'app.kubernetes.io/component=cutover-canary' })
  ).items;
  assert.equal(canaries.filter((p) => !p.metadata?.deletionTimestamp).length, 0, 'canary pods are cleaned up');

  // A host added to the table after the agents started: a rerun of 04 applies the new config, the
  // kubelet refreshes the agents' config volume, and the step waits until every node routes the new
  // host through the local Harbor — no agent restarted (they read their config on every pass).
  const agentPods = async () =>
    (
      await k.core.listNamespacedPod({
        namespace: values.registryPivot.agentNamespace,
        labelSelector: 'app.kubernetes.io/component=registry-pivot',
      })
    ).items
      .map((p) => p.metadata?.uid)
      .sort();
  const before = await agentPods();
  const late = 'late-registry.example.test';
  cleanups.push(async () => {
    for (const node of nodes) rmSync(join(e.nodes[node as 'node-a'].certsDir, late), { recursive: true, force: true });
  });
  values.harbor.hostProjects.push({ ...values.harbor.hostProjects[0]!, host: late });
  const added = Date.now();
  await registryPivot.apply(ctx);
  await registryPivot.verify(ctx);
  console.log(
    `# a host added after the agents started: on every node ${((Date.now() - added) / 1000).toFixed(1)} s later`,
  );
  for (const node of nodes) {
    const toml = readFileSync(join(e.nodes[node as 'node-a'].certsDir, late, 'hosts.toml'), 'utf8');
    assert.ok(toml.includes(`[host."${e.localHarbor.url}/v2/${projects.ghcr}"]`), `${node}: ${late} → local Harbor`);
  }
  assert.deepEqual(await agentPods(), before, 'the same agent pods');

  await store.patch({ registriesYamlActive: 'rollback' });
  const flipped = Date.now();
  await eventually('rollback acked', async () => await reportsSay('rollback'), 60_000);
  // The agents watch the status: a flip reaches them at once, not at their next resync (45–75 s).
  assert.ok(Date.now() - flipped < 15_000, `rollback acked ${Date.now() - flipped} ms after the flip`);
  assert.equal(ghcrToml('node-a'), tethered, 'the tethered hosts.toml is back exactly');
  assert.ok(
    !existsSync(join(e.nodes['node-a'].certsDir, e.upstreams.ghcr.host, 'sovereign-cutover-harbor-ca.crt')),
    'the CA file goes with the pivot',
  );
  assert.ok(
    !existsSync(join(e.nodes['node-a'].certsDir, late, 'hosts.toml')),
    'the added host had no file: none is left',
  );
});
