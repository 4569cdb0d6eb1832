// The Git mirror's health after the cutover (issue 15 §4, ADR 0016), against the real Gitea and the
// lab's upstream Git: `cutover serve` on a completed cutover compares the mirror's head with
// upstream's, keeps the figures in the status, serves them in the status API and the metrics, and
// reports itself degraded once the mirror has not been on upstream's head for longer than its
// threshold; a sync makes it healthy again. An upstream it cannot read is the last check's error.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { KubeCluster } from '../src/adapters/kube/cluster.ts';
import { buildStepEnv } from '../src/composition.ts';
import { parseValues } from '../src/core/values.ts';
import { giteaMirror, observeMirror } from '../src/steps/gitea-mirror.ts';
import { PORTS } from '../lab/topology.ts';
import { signIn, startServe, statusAs } from './support/api.ts';
import { eventually, kube, testNamespace } from './support/kube.ts';
import { cleanupsAfterAll, dropGiteaOrg, forkUpstreamRepo, lab, uniqueName } from './support/lab.ts';

const e = lab();
const cleanups = cleanupsAfterAll();

interface MirrorReport {
  mirror?: {
    head: string;
    upstreamHead: string;
    ageSeconds: number;
    degraded: boolean;
    lastError: string;
    summary: string;
  };
}

test(
  'cutover serve keeps the Git mirror health: in step, behind and degraded past its threshold, healthy again after a sync; an unreadable upstream is the error',
  { timeout: 180_000 },
  async () => {
    const fork = forkUpstreamRepo(cleanups);
    const org = uniqueName('mirror');
    cleanups.push(() => dropGiteaOrg(org));
    const values = parseValues(readFileSync(e.valuesFile, 'utf8'));
    values.gitea.org = org;
    values.upstream.repoURL = fork.url;
    const cluster = KubeCluster.connect(e.kube.kubeconfig);
    const env = await buildStepEnv(values, cluster, 'catalyst');
    const ctx = { values, env, log: () => {}, signal: AbortSignal.timeout(120_000) };
    await giteaMirror.apply(ctx);
    await giteaMirror.verify(ctx);

    // The adapter alone: both heads read, equal.
    const first = await observeMirror(values, env.forge);
    assert.equal(first.error, undefined);
    assert.equal(first.head, first.upstreamHead);
    const unreachable = await observeMirror(
      { ...values, upstream: { ...values.upstream, repoURL: 'https://203.0.113.10:1/x.git' } },
      env.forge,
    );
    assert.match(unreachable.error ?? '', /^upstream: /);
    assert.equal(unreachable.head, first.head, 'the mirror side was still read');

    // A completed cutover in a namespace of its own; the guard's engine pass is off (period 0).
    const namespace = await testNamespace('mirror-health', cleanups);
    await kube().core.createNamespacedConfigMap({
      namespace,
      body: {
        metadata: { name: values.status.configMapName },
        data: { cutoverComplete: 'true', cutoverFinishedAt: new Date().toISOString() },
      },
    });
    const maxAge = 10;
    const api = await startServe(PORTS.api + 5, namespace, {
      gitea: { org },
      upstream: { repoURL: fork.url },
      guard: { periodSeconds: 0, mirrorCheckSeconds: 1, mirrorMaxAgeSeconds: maxAge },
    });
    cleanups.push(() => api.stop());
    const viewer = await signIn(api.url, 'viewer');
    const report = () => statusAs<MirrorReport>(api.url, viewer);
    const metric = async (name: string) => {
      const text = await (await fetch(`${api.url}/metrics`)).text();
      return Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1] ?? NaN);
    };

    const inStep = await eventually('the first mirror check', async () => (await report()).mirror, 30_000);
    assert.equal(inStep.head, first.head);
    assert.equal(inStep.upstreamHead, first.head);
    assert.equal(inStep.degraded, false);
    assert.equal(await metric('cutover_mirror_degraded'), 0);

    // Upstream moves; the mirror (interval 10m) does not follow by itself.
    const pushed = performance.now();
    const commit = fork.push('clusters/sovereign.lab/mirror-health.txt', `${Date.now()}\n`);
    const behind = await eventually(
      'the check to see upstream ahead',
      async () => {
        const m = (await report()).mirror;
        return m?.upstreamHead === commit ? m : undefined;
      },
      30_000,
    );
    assert.notEqual(behind.head, commit);
    assert.equal(behind.degraded, false, 'behind, but not yet for longer than the threshold');
    const degraded = await eventually(
      'the Sovereign to report itself degraded',
      async () => ((await report()).mirror?.degraded ? (await report()).mirror : undefined),
      60_000,
    );
    console.log(
      `# mirror behind upstream: degraded ${((performance.now() - pushed) / 1000).toFixed(1)} s after the push (threshold ${maxAge} s, checks every 5 s)`,
    );
    assert.match(degraded?.summary ?? '', /^DEGRADED: Git mirror behind upstream/);
    assert.equal(await metric('cutover_mirror_degraded'), 1);
    assert.ok((await metric('cutover_mirror_sync_age_seconds')) > maxAge);
    await eventually(
      'the verdict change logged',
      async () => /DEGRADED: Git mirror behind upstream/.test(api.output()),
      15_000,
    );

    // Gitea syncs (as at its next interval): healthy again, without anyone touching the cutover.
    await env.forge.mirrorSync(org, values.gitea.repo);
    const healthy = await eventually(
      "the mirror back on upstream's head",
      async () => {
        const m = (await report()).mirror;
        return m?.head === commit && !m.degraded ? m : undefined;
      },
      60_000,
    );
    assert.ok(healthy.ageSeconds < maxAge);
    assert.equal(await metric('cutover_mirror_degraded'), 0);
    const data =
      (await kube().core.readNamespacedConfigMap({ name: values.status.configMapName, namespace })).data ?? {};
    assert.equal(data.mirrorHead, commit, 'the figures live in the status ConfigMap');
    assert.equal(data.mirrorLastError, '');
  },
);
