// The pin radar and its intake (issue 15 §1–3, ADR 0017), against the real Gitea, the lab's upstream
// Git and registries and the local Harbor: after the cutover `cutover serve` reads what the mirror's
// head pins, copies what the local Harbor lacks (by digest), and reports each pin it cannot serve
// with the reason — in the status, the API, the metrics and Events. With two replicas only the Lease
// holder copies, and a replica killed mid-copy is taken over. Projects of the test's own keep it apart.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { KubeCluster } from '../src/adapters/kube/cluster.ts';
import { DistributionClient } from '../src/adapters/oci/distribution-client.ts';
import { buildStepEnv } from '../src/composition.ts';
import { parseValues, type HostProject } from '../src/core/values.ts';
import { giteaMirror } from '../src/steps/gitea-mirror.ts';
import { harborProjects } from '../src/steps/harbor-projects.ts';
import { PORTS } from '../lab/topology.ts';
import { signIn, startServe, statusAs, type ServeProcess } from './support/api.ts';
import { StatusStore } from '../src/adapters/kube/status-store.ts';
import { pinStatus } from '../src/core/pin-status.ts';
import { eventually, kube, testNamespace } from './support/kube.ts';
import {
  cleanupsAfterAll,
  dropGiteaOrg,
  dropHarborProject,
  forkUpstreamRepo,
  lab,
  pushFreshImage,
  uniqueName,
} from './support/lab.ts';

const e = lab();
const cleanups = cleanupsAfterAll();

interface Pins {
  revision: string;
  total: number;
  pendingCount: number;
  pending: Array<{ ref: string; foundIn: string; reason: string }>;
}

/** A mirror of an upstream fork in a Gitea org, Harbor projects and a status namespace of the test's own. */
async function radarWorld(name: string) {
  const fork = forkUpstreamRepo(cleanups);
  const org = uniqueName(name);
  cleanups.push(() => dropGiteaOrg(org));
  const values = parseValues(readFileSync(e.valuesFile, 'utf8'));
  const hostProjects: HostProject[] = (['ghcr', 'docker', 'quay'] as const).map((u) => ({
    host: e.upstreams[u].host,
    project: uniqueName(`radar-${u}`),
    mode: 'mirror',
    upstreamURL: e.upstreams[u].url,
    registryType: 'docker-registry',
    authMode: 'anonymous',
  }));
  cleanups.push(async () => {
    for (const row of hostProjects) await dropHarborProject(row.project);
  });
  values.harbor.hostProjects = hostProjects;
  values.prewarm.images = []; // named by the lab's projects, not this test's
  values.gitea.org = org;
  values.upstream.repoURL = fork.url;
  const env = await buildStepEnv(values, KubeCluster.connect(e.kube.kubeconfig), 'catalyst');
  const ctx = { values, env, log: () => {}, signal: AbortSignal.timeout(120_000) };
  await harborProjects.apply(ctx);
  await giteaMirror.apply(ctx);
  await giteaMirror.verify(ctx);
  const head = await env.forge.branchHead(org, values.gitea.repo, values.upstream.branch);

  const namespace = await testNamespace(name, cleanups);
  await kube().core.createNamespacedConfigMap({
    namespace,
    body: {
      metadata: { name: values.status.configMapName },
      data: { cutoverComplete: 'true', cutoverFinishedAt: new Date().toISOString() },
    },
  });
  // `cutover serve` on this test's mirror and projects, after a (recorded) complete cutover.
  const overrides = {
    gitea: { org },
    upstream: { repoURL: fork.url },
    harbor: { hostProjects },
    prewarm: { images: [] },
    guard: { periodSeconds: 0, mirrorCheckSeconds: 1 },
    intake: { periodSeconds: 5 },
  };
  return { fork, org, values, hostProjects, env, head, namespace, overrides };
}

test(
  'the pin radar copies what the mirror head pins into the local Harbor, and names each pin it cannot serve with why',
  { timeout: 300_000 },
  async () => {
    const { fork, values, hostProjects, env, head, namespace, overrides } = await radarWorld('pin-radar');
    const org = values.gitea.org;
    const api = await startServe(PORTS.api + 6, namespace, overrides);
    cleanups.push(() => api.stop());
    const viewer = await signIn(api.url, 'viewer');
    const pins = async () => (await statusAs<{ pins?: Pins }>(api.url, viewer)).pins;

    // The head as the cutover left it: every pin copied in (the projects are the test's own, empty).
    const first = await eventually(
      'the radar to read the mirror head',
      async () => {
        const p = await pins();
        return p?.revision === head ? p : undefined;
      },
      120_000,
      async () => api.output(),
    );
    // Git's pins (`file: Kind ns/name`); the cluster's own (other tests' workloads too) are not this test's.
    const fromGit = (p: Pins) => p.pending.filter((pin) => pin.foundIn.includes('.yaml: '));
    assert.deepEqual(fromGit(first), [], 'every pin of the head is servable');
    assert.ok(first.total >= 10, `the lab's GitOps repo pins many artifacts (${first.total})`);
    assert.match(api.output(), new RegExp(`\\d+ copied into the local Harbor for revision ${head?.slice(0, 12)}`));

    // Upstream pins a new image (pushed upstream) and one that exists nowhere.
    const upstream = new DistributionClient(e.upstreams.ghcr.url);
    const fresh = uniqueName('radar-app');
    const digest = await pushFreshImage(upstream, `openova-io/${fresh}`, '1.0.0');
    const missing = `${e.upstreams.ghcr.host}/openova-io/${uniqueName('never-pushed')}:9.9.9`;
    const pushed = performance.now();
    const commit = fork.push(
      'clusters/sovereign.lab/radar.yaml',
      [
        'apiVersion: apps/v1',
        'kind: Deployment',
        'metadata: { name: radar, namespace: catalyst-system }',
        'spec:',
        '  selector: { matchLabels: { app: radar } }',
        '  template:',
        '    metadata: { labels: { app: radar } }',
        '    spec:',
        '      containers:',
        `        - { name: app, image: "${e.upstreams.ghcr.host}/openova-io/${fresh}:1.0.0" }`,
        `        - { name: sidecar, image: "${missing}" }`,
        '',
      ].join('\n'),
    );
    await env.forge.mirrorSync(org, values.gitea.repo);
    const second = await eventually(
      'the radar to read the new revision',
      async () => {
        const p = await pins();
        return p?.revision === commit ? p : undefined;
      },
      120_000,
      async () => api.output(),
    );
    console.log(
      `# pin radar: commit → its pins read and copied ${((performance.now() - pushed) / 1000).toFixed(1)} s after the push (mirror synced on request, checks every 5 s)`,
    );
    assert.deepEqual(
      fromGit(second).map((p) => [p.ref, p.foundIn]),
      [[missing, 'clusters/sovereign.lab/radar.yaml: Deployment catalyst-system/radar']],
    );
    assert.match(fromGit(second)[0]?.reason ?? '', /not found|404|MANIFEST_UNKNOWN|unknown/i);
    const local = new DistributionClient(e.localHarbor.url, e.localHarbor);
    const copied = await local.headManifest(`${hostProjects[0]?.project}/openova-io/${fresh}`, '1.0.0');
    assert.equal(copied?.digest, digest, 'the new pin is in the local Harbor, by digest');
    const metrics = await (await fetch(`${api.url}/metrics`)).text();
    assert.equal(Number(/^cutover_pins_pending (\d+)$/m.exec(metrics)?.[1]), second.pendingCount);
    assert.match(metrics, /^cutover_sovereign_ready\{reason="RevisionHeld"\} 0$/m, 'the condition to alert on');
    // Each decision is an Event on the status ConfigMap (ADR 0018): the copies, and the revision held by the missing pin.
    const notes = await eventually(
      'the decisions as Events',
      async () => {
        const items = (await env.cluster.events.listNamespacedEvent({ namespace })).items;
        const held = items.find((ev) => ev.reason === 'RevisionHeld' && ev.note?.includes(missing));
        return held && items.some((ev) => ev.reason === 'PinsCopied') ? items : undefined;
      },
      30_000,
    );
    assert.ok(notes.every((ev) => ev.regarding?.name === values.status.configMapName));
  },
);

test(
  'two replicas of cutover serve: one intake at a time (the Lease); the replica copying is killed mid-copy and the other finishes the copies (issue 15 acceptance 4)',
  { timeout: 300_000 },
  async () => {
    const { values, head, namespace, overrides } = await radarWorld('radar-replicas');
    const store = new StatusStore(KubeCluster.connect(e.kube.kubeconfig), namespace, values.status.configMapName);
    const replicas = [
      await startServe(PORTS.api + 10, namespace, overrides),
      await startServe(PORTS.api + 11, namespace, overrides),
    ];
    for (const r of replicas) cleanups.push(() => r.stop());
    const copies = (r: ServeProcess) => [...r.output().matchAll(/ intake: (\S+) → /g)].map((m) => m[1]);

    const copying = await eventually(
      'one replica to start copying',
      async () => replicas.find((r) => copies(r).length),
      120_000,
    );
    await copying.kill();
    const killedAt = performance.now();
    const before = copies(copying);
    const survivor = replicas.find((r) => r !== copying)!;
    assert.deepEqual(copies(survivor), [], 'the other replica copied nothing while the first held the Lease');

    // The survivor takes over once the dead replica's Lease expires (30 s), and finishes.
    const done = await eventually(
      'the survivor to make every pin of the head servable',
      async () => {
        const pins = pinStatus((await store.read()) ?? {});
        return pins && pins.revision === head && pins.pending.every((p) => !p.foundIn.includes('.yaml: '))
          ? pins
          : undefined;
      },
      120_000,
      async () => survivor.output(),
    );
    const after = copies(survivor);
    console.log(
      `# two replicas: the copying one killed after ${before.length} copies; the survivor copied ${after.length} more (${done.total} pins in all), done ${((performance.now() - killedAt) / 1000).toFixed(1)} s after the kill (Lease 30 s)`,
    );
    assert.ok(after.length > 0, 'the survivor copied what was left');
    // At most the artifact in flight at the kill is copied twice (its blobs already present are skipped).
    assert.ok(
      after.filter((ref) => before.includes(ref)).length <= 1,
      `copied twice: ${after.filter((ref) => before.includes(ref)).join(', ')}`,
    );
  },
);
