// Runs alone: `cutover rollback` (issue 16 §1) on the lab's GitOps-managed Sovereign. The proof is an
// object dump of everything the cutover can touch — Flux sources, owners, workloads, Secrets (their
// data hashed), RBAC, NetworkPolicies in every Sovereign namespace — taken before the cutover and
// equal after the rollback, the nodes' own hosts.toml back, and a fresh pod on each node pulling an
// image only upstream has (the local Harbor never saw it). From a completed cutover, and from a run
// stopped during step 06.
import { HarborApi } from '../../src/adapters/harbor/harbor-api.ts';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { KubernetesObjectApi, type KubernetesObject } from '@kubernetes/client-node';
import { stringify } from 'yaml';
import { KubeCluster } from '../../src/adapters/kube/cluster.ts';
import { StatusStore } from '../../src/adapters/kube/status-store.ts';
import { JournalStore } from '../../src/adapters/kube/journal-store.ts';
import { DistributionClient } from '../../src/adapters/oci/distribution-client.ts';
import { STEP_IDS, stepKey } from '../../src/core/contracts.ts';
import type { JournalEntry } from '../../src/core/journal.ts';
import { parseValues } from '../../src/core/values.ts';
import { resetSovereign } from '../../lab/lab.ts';
import { SOVEREIGN_NAMESPACES, TENANT } from '../../lab/kube/sovereign.ts';
import { eventually, kube, testNamespace } from '../support/kube.ts';
import { dropGiteaOrg, dropHarborProject, harborApi, lab, pushFreshImage, uniqueName } from '../support/lab.ts';

const e = lab();
const k = kube();
const cluster = KubeCluster.connect(e.kube.kubeconfig);
const values = parseValues(readFileSync(e.valuesFile, 'utf8'));
const store = new StatusStore(cluster, 'catalyst', values.status.configMapName);
const journal = new JournalStore(cluster, store);
const cli = new URL('../../src/cli/main.ts', import.meta.url).pathname;
const target = ['--kubeconfig', e.kube.kubeconfig, '-n', 'catalyst'];
const quiet = (): void => {};
const cleanups: Array<() => Promise<unknown>> = [];
after(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
  await resetSovereign(quiet);
});

const NAMESPACES = [...SOVEREIGN_NAMESPACES, TENANT.namespace, 'catalyst-agent'];
const KINDS: Array<[string, string]> = [
  ['source.toolkit.fluxcd.io/v1', 'GitRepository'],
  ['source.toolkit.fluxcd.io/v1', 'HelmRepository'],
  ['source.toolkit.fluxcd.io/v1', 'OCIRepository'],
  ['source.toolkit.fluxcd.io/v1', 'HelmChart'],
  ['kustomize.toolkit.fluxcd.io/v1', 'Kustomization'],
  ['helm.toolkit.fluxcd.io/v2', 'HelmRelease'],
  ['apps/v1', 'Deployment'],
  ['apps/v1', 'DaemonSet'],
  ['v1', 'Secret'],
  ['v1', 'ServiceAccount'],
  ['v1', 'ConfigMap'],
  ['rbac.authorization.k8s.io/v1', 'Role'],
  ['rbac.authorization.k8s.io/v1', 'RoleBinding'],
  ['networking.k8s.io/v1', 'NetworkPolicy'],
];
/** What controllers keep, not what the cutover set (the issue: status, resourceVersion, managedFields, generation). */
const VOLATILE = ['resourceVersion', 'managedFields', 'generation', 'uid', 'creationTimestamp'];
/** The cutover's own record: status and journal. */
const OWN_RECORD = /^self-sovereign-cutover-status(-journal-.*)?$/;

/** Every object the cutover can touch, normalised, one `kind ns/name` key each; Secret data as hashes. */
async function dump(): Promise<Record<string, unknown>> {
  const api = KubernetesObjectApi.makeApiClient(k.config);
  const out: Record<string, unknown> = {};
  for (const namespace of NAMESPACES)
    for (const [apiVersion, kind] of KINDS) {
      for (const o of (await api.list(apiVersion, kind, namespace)).items as Array<
        KubernetesObject & Record<string, unknown>
      >) {
        const name = o.metadata?.name ?? '';
        if (kind === 'ConfigMap' && OWN_RECORD.test(name)) continue;
        const metadata = Object.fromEntries(
          Object.entries(o.metadata ?? {}).filter(([key]) => !VOLATILE.includes(key)),
        ) as Record<string, unknown>;
        const annotations = { ...(metadata.annotations as Record<string, string> | undefined) };
        // A Deployment's rollout counter moves forward with every template change, a revert included;
        // a reconcile request is a stamp, not state (the rollback itself asks Flux to re-apply Git).
        delete annotations['deployment.kubernetes.io/revision'];
        delete annotations['reconcile.fluxcd.io/requestedAt'];
        const { status: _status, data, ...rest } = o;
        void _status;
        out[`${kind} ${namespace}/${name}`] = {
          ...rest,
          metadata: { ...metadata, annotations },
          ...(data
            ? {
                data: Object.fromEntries(
                  Object.entries(data as Record<string, string>).map(([key, value]) => [
                    key,
                    kind === 'Secret' ? createHash('sha256').update(value).digest('hex').slice(0, 16) : value,
                  ]),
                ),
              }
            : {}),
        };
      }
    }
  return out;
}

/** The keys whose objects differ (or exist on one side only), each with both versions for the message. */
function differences(before: Record<string, unknown>, after: Record<string, unknown>): string[] {
  const keys = [...new Set([...Object.keys(before), ...Object.keys(after)])].sort();
  return keys
    .filter((key) => JSON.stringify(before[key]) !== JSON.stringify(after[key]))
    .map((key) => `${key}\n--- before\n${stringify(before[key] ?? null)}--- after\n${stringify(after[key] ?? null)}`);
}

const nodeFiles = (): Record<string, string> =>
  Object.fromEntries(
    Object.entries(e.nodes).flatMap(([node, paths]) =>
      Object.values(e.upstreams).map((u) => [
        `${node} ${u.host}`,
        readFileSync(join(paths.certsDir, u.host, 'hosts.toml'), 'utf8'),
      ]),
    ),
  );

const harbor = new HarborApi(e.localHarbor.url, e.localHarbor);
const PULL_ROBOT = 'sovereign-cutover-pull';
const run = (...args: string[]) => spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8' });

/** Rolls back and proves the Sovereign is as before: objects, node files, tethered pulls, a clean status. */
async function rollBackAndProve(
  before: Record<string, unknown>,
  files: Record<string, string>,
  extra: string[] = [],
): Promise<void> {
  const journaled = await journal.entries();
  const shown = run('journal', '-o', 'json', '-f', e.valuesFile, ...target);
  assert.equal(shown.status, 0, shown.stderr);
  assert.deepEqual(
    (JSON.parse(shown.stdout) as JournalEntry[]).map((x) => x.seq),
    journaled.map((x) => x.seq),
  );
  const started = performance.now();
  // The lab's values, said: the test does not lean on an install some earlier test left behind.
  const rolled = run('rollback', '--yes', '-f', e.valuesFile, ...extra, ...target);
  const seconds = (performance.now() - started) / 1000;
  assert.equal(rolled.status, 0, `${rolled.stdout}\n${rolled.stderr}`);
  console.log(`# rollback of ${journaled.length} journal entries: ${seconds.toFixed(1)} s`);
  assert.match(rolled.stderr, /API server https:\/\/\S+, context \S+, install namespace catalyst/);
  assert.match(rolled.stdout, /rollback restores the tethered state: \d+ change\(s\)/);

  // Flux may still be settling what it re-applied: the dump must come to equal, and stay.
  let diff: string[] = [];
  await eventually(
    'every object the cutover touched back as before',
    async () => (diff = differences(before, await dump())).length === 0,
    90_000,
    async () => diff.join('\n'),
  );
  assert.deepEqual(nodeFiles(), files, "every node's own hosts.toml is back");

  const status = (await store.read())!;
  assert.equal(status.cutoverComplete, 'false');
  assert.equal(status.registriesYamlActive, 'v1');
  assert.equal(status.rollbackResult, 'restored');
  assert.match(status.rollbackBy ?? '', /\S/);
  for (const id of STEP_IDS) assert.equal(status[stepKey(id, 'result')], '', `${id} starts clean`);
  assert.deepEqual(await journal.entries(), [], 'the journal is empty: a later cutover starts clean');
  // A pull robot this cutover created for the pull Secrets is gone (one that existed before it stays).
  if (journaled.some((x) => x.op === 'create' && x.object.kind === 'HarborRobot'))
    assert.equal(await harbor.robot(PULL_ROBOT), undefined, 'the pull robot the cutover created is gone');

  // Each node pulls an image only upstream has: its route is the tethered one again.
  const namespace = await testNamespace('tethered', cleanups);
  const repo = `library/${uniqueName('only-upstream')}`;
  await pushFreshImage(new DistributionClient(e.upstreams.docker.url), repo, '1');
  for (const node of Object.keys(e.nodes))
    await k.core.createNamespacedPod({
      namespace,
      body: {
        metadata: { name: `pull-${node}` },
        spec: {
          nodeName: node,
          restartPolicy: 'Never',
          containers: [{ name: 'app', image: `${e.upstreams.docker.host}/${repo}:1`, imagePullPolicy: 'Always' }],
        },
      },
    });
  for (const node of Object.keys(e.nodes))
    await eventually(
      `a pod on ${node} running an image only upstream has`,
      async () => {
        const phase = (await k.core.readNamespacedPod({ name: `pull-${node}`, namespace })).status?.phase;
        return phase === 'Running' || phase === 'Succeeded';
      },
      60_000,
    );
}

test('rollback from a completed cutover: every object the cutover touched is as before, nodes pull from upstream again, the status starts clean; a second rollback changes nothing', async () => {
  await resetSovereign(quiet);
  // This cutover creates the pull robot (earlier runs left one): its rollback must delete it.
  await harbor.deleteRobot(PULL_ROBOT);
  const before = await dump();
  const files = nodeFiles();
  const cutover = run('run', '-f', e.valuesFile, ...target);
  assert.equal(cutover.status, 0, `${cutover.stdout}\n${cutover.stderr}`);
  assert.notDeepEqual(differences(before, await dump()), [], 'the cutover changed the cluster');
  const entries = await journal.entries();
  const url = entries.find(
    (x) => x.op === 'set' && x.object.kind === 'GitRepository' && x.path?.join('.') === 'spec.url',
  );
  assert.equal(url?.before, e.git.repoURL, "the GitRepository's upstream URL was journaled before the pivot");
  assert.ok(entries.some((x) => x.op === 'entries' && x.object.kind === 'Kustomization'));
  assert.ok(entries.some((x) => x.op === 'nodes'));
  assert.ok(
    entries.some((x) => x.op === 'create' && x.object.kind === 'HarborRobot'),
    'the pull robot was created',
  );
  await rollBackAndProve(before, files);

  const again = run('rollback', '--yes', '-f', e.valuesFile, ...target);
  assert.equal(again.status, 0, again.stderr);
  assert.match(again.stdout, /rollback restores the tethered state: 0 change\(s\)/);
});

test('rollback --purge from a run stopped during step 06 (SIGTERM; failed there with the reason): as before, and the Gitea mirror and Harbor project the cutover created are gone', async () => {
  await resetSovereign(quiet);
  // The cutover creates them this time (they existed from earlier runs): a purge deletes only what it created.
  await dropGiteaOrg(values.gitea.org, values.gitea.repo);
  await dropHarborProject('proxy-docker');
  const before = await dump();
  const files = nodeFiles();
  const child = spawn(process.execPath, [cli, 'run', '-f', e.valuesFile, ...target], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
  // Stopped once 06 has made some of its changes (its first journal entry is written before the first).
  await eventually(
    'step 06 to have begun changing the cluster',
    async () => (await journal.entries()).some((x) => x.step === 'helmrepository-patches'),
    600_000,
    async () => output,
  );
  child.kill('SIGTERM');
  assert.notEqual(await exited, 0, output);
  const status = (await store.read())!;
  assert.equal(status.failedStep, 'helmrepository-patches', output);
  assert.match(status.lastError ?? '', /SIGTERM/);
  await rollBackAndProve(before, files, ['--purge']);
  const gitea = await fetch(`${e.gitea.url}/api/v1/repos/${values.gitea.org}/${values.gitea.repo}`, {
    headers: { authorization: `token ${e.gitea.token}` },
  });
  assert.equal(gitea.status, 404, 'the mirror the cutover created was purged');
  const harbor = await harborApi(e.localHarbor.url, e.localHarbor)('GET', '/projects/proxy-docker');
  assert.equal(harbor.status, 404, 'the Harbor project the cutover created was purged');
  const kept = await harborApi(e.localHarbor.url, e.localHarbor)('GET', '/projects/proxy-ghcr');
  assert.equal(kept.status, 200, 'a project that existed before the cutover stays');
});
