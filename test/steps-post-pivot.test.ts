// Steps 05–07 against the lab, each on objects of its own in a test namespace: a GitRepository
// that follows the Sovereign's Gitea on the same revision, OCI HelmRepositories that follow the
// local Harbor (a HelmChart reconciles from it), and a Deployment env var with its rollout.
import { createFlux, createUpstreamGitRepository } from './support/flux.ts';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { KubeCluster, mergePatch } from '../src/adapters/kube/cluster.ts';
import { copyArtifact } from '../src/prewarm/prewarm.ts';
import { DistributionClient } from '../src/adapters/oci/distribution-client.ts';
import { buildStepEnv } from '../src/composition.ts';
import { parseValues, type Values } from '../src/core/values.ts';
import { catalystApiEnvPatch } from '../src/steps/catalyst-api-env-patch.ts';
import { fluxGitRepositoryPatch, PRE_PIVOT_REVISION } from '../src/steps/flux-gitrepository-patch.ts';
import { getFlux, readyCondition } from '../src/adapters/kube/flux.ts';
import { giteaMirror } from '../src/steps/gitea-mirror.ts';
import { harborProjects } from '../src/steps/harbor-projects.ts';
import { helmRepositoryPatches } from '../src/steps/helmrepository-patches.ts';
import {
  backupKey,
  restoreStrippedCredential,
  stripUpstreamCredentials,
  upstreamCredentialsLeft,
} from '../src/steps/pull-credentials.ts';
import { PULL_BACKUP_SECRET } from '../src/core/contracts.ts';
import { CHARTS } from '../lab/corpus/spec.ts';
import { eventually, kube, testNamespace } from './support/kube.ts';
import { cleanupsAfterAll, dropGiteaOrg, forkUpstreamRepo, harborApi, lab, uniqueName } from './support/lab.ts';

const e = lab();
const k = kube();
const cluster = KubeCluster.connect(e.kube.kubeconfig);
const cleanups = cleanupsAfterAll();

/** Values whose Flux namespaces are the test's own: it pivots what it made, never the lab Sovereign's. */
async function ctxFor(namespace: string, mutate: (v: Values) => void) {
  const values = parseValues(readFileSync(e.valuesFile, 'utf8'));
  values.gitopsRepository.namespace = namespace;
  values.helmRepositories.namespace = namespace;
  values.flux.namespaces = [];
  mutate(values);
  return {
    values,
    env: await buildStepEnv(values, cluster, 'catalyst'),
    log: () => {},
    signal: AbortSignal.timeout(180_000),
  };
}

const SOURCE = { group: 'source.toolkit.fluxcd.io', version: 'v1' };

/** GitRepository `openova` in `namespace` following `url`'s main branch, once Ready there. */
async function upstreamGitRepository(namespace: string, url: string) {
  await createUpstreamGitRepository(namespace, 'openova', { interval: '1m0s', url, ref: { branch: e.git.branch } });
  return await eventually(
    `GitRepository Ready on ${url}`,
    async () => {
      const o = await getFlux(cluster, 'gitrepositories', namespace, 'openova');
      return readyCondition(o)?.status === 'True' ? o : undefined;
    },
    90_000,
  );
}

test("05 flux-gitrepository-patch: the GitRepository is Ready from the Sovereign's Gitea on the same revision; a second run changes nothing", async () => {
  const namespace = await testNamespace('flux-git', cleanups);
  const org = uniqueName('org');
  cleanups.push(() => dropGiteaOrg(org));
  const before = await upstreamGitRepository(namespace, e.git.repoURL);
  const ctx = await ctxFor(namespace, (v) => {
    v.gitea.org = org;
    v.gitopsRepository = { name: 'openova', namespace };
  });
  await giteaMirror.apply(ctx);
  await giteaMirror.verify(ctx);
  assert.equal((await fluxGitRepositoryPatch.plan(ctx)).length, 1);
  await fluxGitRepositoryPatch.apply(ctx);
  await fluxGitRepositoryPatch.verify(ctx);
  const after1 = await getFlux(cluster, 'gitrepositories', namespace, 'openova');
  assert.equal(after1.spec.url, `${e.gitea.url}/${org}/openova`);
  assert.equal(after1.status?.artifact?.revision, before.status?.artifact?.revision);
  // Gitea is HTTPS on the Sovereign's private CA and anonymous: the secretRef carries only its CA.
  assert.ok(e.gitea.url.startsWith('https://'));
  assert.equal(after1.spec.secretRef?.name, 'sovereign-cutover-gitea-auth');
  const secret = await k.core.readNamespacedSecret({ name: 'sovereign-cutover-gitea-auth', namespace });
  assert.deepEqual(Object.keys(secret.data ?? {}), ['ca.crt']);

  assert.deepEqual(await fluxGitRepositoryPatch.plan(ctx), []);
  await fluxGitRepositoryPatch.apply(ctx);
  await fluxGitRepositoryPatch.verify(ctx);
  assert.equal(
    (await getFlux(cluster, 'gitrepositories', namespace, 'openova')).metadata.generation,
    after1.metadata.generation,
    'no new generation',
  );
});

test('05 with a private mirror: Flux reads as a read-only user of its own with a read:repository token, never the admin; a rerun rotates the token; deleting the user revokes it', async () => {
  const namespace = await testNamespace('flux-git-private', cleanups);
  const org = uniqueName('private');
  const reader = uniqueName('flux');
  const gitea = (path: string, init: RequestInit & { token?: string } = {}) =>
    fetch(`${e.gitea.url}/api/v1${path}`, {
      ...init,
      headers: {
        authorization: `token ${init.token ?? e.gitea.token}`,
        'content-type': 'application/json',
      },
    });
  assert.equal(
    (await gitea('/orgs', { method: 'POST', body: JSON.stringify({ username: org, visibility: 'private' }) })).status,
    201,
  );
  cleanups.push(async () => {
    await dropGiteaOrg(org);
    await gitea(`/admin/users/${reader}?purge=true`, { method: 'DELETE' });
  });
  await upstreamGitRepository(namespace, e.git.repoURL);
  const ctx = await ctxFor(namespace, (v) => {
    v.gitea.org = org;
    v.gitea.fluxReader = reader;
    v.gitopsRepository = { name: 'openova', namespace };
  });
  await giteaMirror.apply(ctx);
  await giteaMirror.verify(ctx);
  await fluxGitRepositoryPatch.apply(ctx);
  await fluxGitRepositoryPatch.verify(ctx); // Flux Ready from the private mirror: the token reads it
  const credential = async () => {
    const data = (await k.core.readNamespacedSecret({ name: 'sovereign-cutover-gitea-auth', namespace })).data ?? {};
    return Object.fromEntries(Object.entries(data).map(([key, v]) => [key, Buffer.from(v, 'base64').toString()]));
  };
  const first = await credential();
  assert.equal(first.username, reader, "Flux's own user");
  assert.notEqual(first.password, e.gitea.password, 'never the admin password');
  assert.notEqual(first.username, e.gitea.username);
  const journaled = (await ctx.env.journal.entries()).some(
    (x) => x.op === 'create' && x.object.kind === 'GiteaUser' && x.object.name === reader,
  );
  assert.ok(journaled, 'the user is journaled as created: a rollback removes it');

  // What the token may do: read the one repository — and nothing else.
  const token = first.password ?? '';
  assert.equal((await gitea(`/repos/${org}/openova`, { token })).status, 200);
  const write = await gitea(`/repos/${org}/openova/contents/planted.txt`, {
    token,
    method: 'POST',
    body: JSON.stringify({ content: Buffer.from('x').toString('base64'), message: 'planted' }),
  });
  assert.ok([401, 403, 404].includes(write.status), `a push is refused (${write.status})`);
  const otherOrg = uniqueName('private');
  cleanups.push(() => dropGiteaOrg(otherOrg, 'other'));
  await gitea('/orgs', { method: 'POST', body: JSON.stringify({ username: otherOrg, visibility: 'private' }) });
  assert.equal(
    (await gitea(`/orgs/${otherOrg}/repos`, { method: 'POST', body: JSON.stringify({ name: 'other', private: true }) }))
      .status,
    201,
  );
  assert.equal(
    (await gitea(`/repos/${otherOrg}/other`, { token })).status,
    404,
    'another private repository is unseen',
  );
  assert.equal((await gitea('/admin/users', { token })).status, 403, 'no admin API');

  // A rerun mints a new token and revokes the old one; Flux is Ready on the new one.
  await fluxGitRepositoryPatch.apply(ctx);
  await fluxGitRepositoryPatch.verify(ctx);
  const second = await credential();
  assert.notEqual(second.password, first.password, 'rotated');
  assert.equal((await gitea(`/repos/${org}/openova`, { token })).status, 401, 'the old token is revoked');
  assert.equal((await gitea(`/repos/${org}/openova`, { token: second.password ?? '' })).status, 200);
  // What a rollback does with the journaled user: deleting it revokes its token.
  assert.equal(await ctx.env.forge.deleteUser(reader), true);
  assert.equal((await gitea(`/repos/${org}/openova`, { token: second.password ?? '' })).status, 401);
});

test('05 flux-gitrepository-patch: a commit pushed upstream between the recorded revision and the flip does not stall the step', async () => {
  const namespace = await testNamespace('flux-git-race', cleanups);
  const org = uniqueName('org');
  cleanups.push(() => dropGiteaOrg(org));
  const upstream = forkUpstreamRepo(cleanups);
  const before = await upstreamGitRepository(namespace, upstream.url);
  const recorded = before.status?.artifact?.revision ?? '';
  const lines: string[] = [];
  const ctx = {
    ...(await ctxFor(namespace, (v) => {
      v.gitea.org = org;
      v.upstream.repoURL = upstream.url;
      v.gitopsRepository = { name: 'openova', namespace };
    })),
    log: (line: string) => lines.push(line),
  };
  await giteaMirror.apply(ctx);
  await giteaMirror.verify(ctx);
  // A first run recorded the revision and was killed before the flip…
  await k.custom.patchNamespacedCustomObject(
    {
      ...SOURCE,
      plural: 'gitrepositories',
      namespace,
      name: 'openova',
      body: { metadata: { annotations: { [PRE_PIVOT_REVISION]: recorded } } },
    },
    mergePatch,
  );
  // …then upstream moved on; the resumed step's mirror sync brings the new commit.
  const head = upstream.push('platform/NEWS.md', '# pushed during the cutover\n');
  await ctx.env.forge.mirrorSync(org, 'openova');
  await eventually(
    'the mirror holding the new commit',
    async () => (await ctx.env.forge.branchHead(org, 'openova', 'main')) === head,
    60_000,
  );
  await fluxGitRepositoryPatch.apply(ctx);
  await fluxGitRepositoryPatch.verify(ctx);
  const after = await getFlux(cluster, 'gitrepositories', namespace, 'openova');
  assert.equal(after.spec.url, `${e.gitea.url}/${org}/openova`);
  assert.equal(after.status?.artifact?.revision, `main@sha1:${head}`, "Ready on the mirror's current head");
  assert.notEqual(recorded, `main@sha1:${head}`);
  assert.ok(
    lines.some((l) => l.includes(`upstream moved on from ${recorded}`)),
    `the step says upstream moved: ${lines.join(' | ')}`,
  );
});

test('06 helmrepository-patches: OCI HelmRepositories follow the local Harbor, the pull Secret gains it additively, a HelmChart reconciles from it', async () => {
  const namespace = await testNamespace('flux-helm', cleanups);
  const project = uniqueName('charts');
  const api = harborApi(e.localHarbor.url, e.localHarbor);
  const chart = CHARTS[0]!;
  cleanups.push(async () => {
    await api(
      'DELETE',
      `/projects/${project}/repositories/${encodeURIComponent(encodeURIComponent(`openova-io/${chart.name}`))}`,
    );
    await api('DELETE', `/projects/${project}`);
  });
  const pull = await k.core.readNamespacedSecret({ name: 'ghcr-pull', namespace: 'flux-system' });
  await k.core.createNamespacedSecret({
    namespace,
    body: { metadata: { name: 'ghcr-pull' }, type: pull.type ?? '', data: pull.data ?? {} },
  });
  const upstreamPrefix = `oci://${e.upstreams.ghcr.host}/openova-io`;
  /** An OCI HelmRepository on the ghcr stand-in's charts, pulled with the Secret `secret`. */
  const ociHelmRepository = (name: string, secret: string) =>
    createFlux(namespace, SOURCE.group, SOURCE.version, 'helmrepositories', 'HelmRepository', name, {
      type: 'oci',
      interval: '10m0s',
      url: upstreamPrefix,
      insecure: true,
      secretRef: { name: secret },
    });
  await ociHelmRepository(chart.name, 'ghcr-pull');
  await k.custom.createNamespacedCustomObject({
    ...SOURCE,
    plural: 'helmcharts',
    namespace,
    body: {
      apiVersion: 'source.toolkit.fluxcd.io/v1',
      kind: 'HelmChart',
      metadata: { name: chart.name },
      spec: {
        chart: chart.name,
        version: chart.version,
        interval: '10m0s',
        sourceRef: { kind: 'HelmRepository', name: chart.name },
      },
    },
  });
  await eventually(
    'HelmChart Ready from upstream',
    async () => readyCondition(await getFlux(cluster, 'helmcharts', namespace, chart.name))?.status === 'True',
    90_000,
  );

  const robot = uniqueName('pull');
  const ctx = await ctxFor(namespace, (v) => {
    v.harbor.pullRobot = robot;
    v.helmRepositories = { namespace, upstreamPrefix, names: [chart.name] };
    v.harbor.hostProjects = [
      {
        host: e.upstreams.ghcr.host,
        project,
        mode: 'mirror',
        upstreamURL: e.upstreams.ghcr.url,
        registryType: 'github-ghcr',
        authMode: 'credential',
      },
    ];
  });
  await harborProjects.apply(ctx);
  const pullSecret = async () => await k.core.readNamespacedSecret({ name: 'ghcr-pull', namespace });
  const authsOf = (secret: { data?: Record<string, string> }) =>
    (
      JSON.parse(Buffer.from(secret.data?.['.dockerconfigjson'] ?? '', 'base64').toString()) as {
        auths: Record<string, { username?: string; password?: string }>;
      }
    ).auths;
  const untouched = (await pullSecret()).metadata?.resourceVersion;
  // The attack on the pull path: the upstream credentials taken out before the local Harbor's are in. Refused, nothing written.
  await assert.rejects(stripUpstreamCredentials(ctx, 'egress-block-test'), { code: 'pull-secret-unpivoted' });
  // A source naming a pull Secret the runner may not touch: refused before anything is written.
  await ociHelmRepository('other-secret', 'other-pull');
  await assert.rejects(helmRepositoryPatches.apply(ctx), { code: 'pull-secret-not-named' });
  await k.custom.deleteNamespacedCustomObject({
    ...SOURCE,
    plural: 'helmrepositories',
    namespace,
    name: 'other-secret',
  });
  assert.equal((await pullSecret()).metadata?.resourceVersion, untouched, 'the pull Secret is as it was');
  await copyArtifact(
    new DistributionClient(e.upstreams.ghcr.url),
    `openova-io/${chart.name}`,
    chart.version,
    new DistributionClient(e.localHarbor.url, e.localHarbor),
    `${project}/openova-io/${chart.name}`,
  );
  assert.equal((await helmRepositoryPatches.plan(ctx)).length, 1);
  await helmRepositoryPatches.apply(ctx);
  await helmRepositoryPatches.verify(ctx);
  const repo = await getFlux(cluster, 'helmrepositories', namespace, chart.name);
  assert.equal(repo.spec.url, `oci://${e.localHarbor.host}/${project}/openova-io`);
  // The local Harbor is HTTPS on the Sovereign's private CA: Flux got the CA (and verify saw it pull).
  assert.equal(repo.spec.certSecretRef?.name, 'sovereign-cutover-harbor-ca');
  assert.equal(repo.spec.insecure, false, 'TLS, not plain HTTP (the upstream was)');
  const ca = await k.core.readNamespacedSecret({ name: 'sovereign-cutover-harbor-ca', namespace });
  assert.equal(Buffer.from(ca.data?.['ca.crt'] ?? '', 'base64').toString(), ctx.values.tls.caBundle.trim() + '\n');
  const auths = JSON.parse(
    Buffer.from(
      (await k.core.readNamespacedSecret({ name: 'ghcr-pull', namespace })).data?.['.dockerconfigjson'] ?? '',
      'base64',
    ).toString(),
  ) as { auths: Record<string, { username?: string; password?: string }> };
  assert.ok(auths.auths[e.localHarbor.host], 'local Harbor added');
  assert.ok(auths.auths[e.upstreams.ghcr.host], 'upstream entry kept until pulls are proven');
  // …with a pull-only robot of the cutover's projects, never the Harbor admin (verify saw Flux pull with it).
  cleanups.push(() => ctx.env.harbor.deleteRobot(robot));
  assert.equal(auths.auths[e.localHarbor.host]?.username, `robot$${robot}`);
  assert.notEqual(auths.auths[e.localHarbor.host]?.password, e.localHarbor.password);
  assert.ok(
    (await ctx.env.journal.entries()).some(
      (x) => x.op === 'create' && x.object.kind === 'HarborRobot' && x.object.name === robot,
    ),
    'journaled as created: a rollback deletes it',
  );
  assert.deepEqual(await helmRepositoryPatches.plan(ctx), [], 'converged');

  // After 08's pull proof: the upstream credentials go, kept in the cutover's backup Secret for a rollback.
  const upstreamEntry = auths.auths[e.upstreams.ghcr.host];
  cleanups.push(() =>
    k.core.deleteNamespacedSecret({ name: PULL_BACKUP_SECRET, namespace: 'catalyst' }).then(() => undefined),
  );
  await stripUpstreamCredentials(ctx, 'egress-block-test');
  const stripped = await pullSecret();
  assert.deepEqual(Object.keys(authsOf(stripped)), [e.localHarbor.host], 'only the local Harbor is left');
  assert.deepEqual(await upstreamCredentialsLeft(ctx), []);
  const backup = await k.core.readNamespacedSecret({ name: PULL_BACKUP_SECRET, namespace: 'catalyst' });
  assert.deepEqual(authsOf({ data: { '.dockerconfigjson': backup.data?.[backupKey(namespace, 'ghcr-pull')] ?? '' } }), {
    [e.upstreams.ghcr.host]: upstreamEntry,
  });
  const entries = (await ctx.env.journal.entries()).filter(
    (x) => x.op === 'strip-auth' && x.object.namespace === namespace,
  );
  assert.deepEqual(
    entries.map((x) => x.host),
    [e.upstreams.ghcr.host],
  );
  assert.ok(!JSON.stringify(entries).includes(upstreamEntry?.password ?? '?'), 'the journal names the host only');
  // A second run changes nothing.
  await stripUpstreamCredentials(ctx, 'egress-block-test');
  assert.equal((await pullSecret()).metadata?.resourceVersion, stripped.metadata?.resourceVersion);
  assert.equal(
    (await k.core.readNamespacedSecret({ name: PULL_BACKUP_SECRET, namespace: 'catalyst' })).metadata?.resourceVersion,
    backup.metadata?.resourceVersion,
  );
  // The rollback's part puts the entry back as it was, once.
  assert.ok(await restoreStrippedCredential(ctx, entries[0]!));
  assert.deepEqual(authsOf(await pullSecret())[e.upstreams.ghcr.host], upstreamEntry);
  assert.equal(await restoreStrippedCredential(ctx, entries[0]!), '', 'nothing left to put back');
});

test("06 and helmRepositories.names (the original's explicit list): a named OCI HelmRepository outside the upstream prefix is pivoted through the host table, a missing name is skipped, a named non-OCI one refuses the step before anything is written", async () => {
  const namespace = await testNamespace('flux-names', cleanups);
  const upstreamPrefix = `oci://${e.upstreams.ghcr.host}/openova-io`;
  const helmRepository = (name: string, url: string) =>
    createFlux(namespace, SOURCE.group, SOURCE.version, 'helmrepositories', 'HelmRepository', name, {
      ...(url.startsWith('oci://') ? { type: 'oci' } : {}),
      interval: '10m0s',
      url,
      insecure: true,
    });
  await helmRepository('discovered', upstreamPrefix);
  await helmRepository('other-org', `oci://${e.upstreams.ghcr.host}/other-org`);
  const project = uniqueName('charts');
  const harborHost = new URL(e.localHarbor.url).host;
  const ctx = (names: string[]) =>
    ctxFor(namespace, (v) => {
      v.helmRepositories = { namespace, upstreamPrefix, names };
      v.harbor.hostProjects = [
        {
          host: e.upstreams.ghcr.host,
          project,
          mode: 'mirror',
          upstreamURL: e.upstreams.ghcr.url,
          registryType: 'github-ghcr',
          authMode: 'credential',
        },
      ];
    });
  const named = await helmRepositoryPatches.plan(await ctx(['other-org', 'not-here']));
  assert.deepEqual(
    named.map((c) => [c.action, c.target, c.detail?.replace(/ \(.*\)$/, '')]),
    [
      ['skip', `HelmRepository ${namespace}/not-here`, 'named in helmRepositories.names; there is none'],
      [
        'patch',
        `HelmRepository ${namespace}/discovered`,
        `${upstreamPrefix} → oci://${harborHost}/${project}/openova-io`,
      ],
      [
        'patch',
        `HelmRepository ${namespace}/other-org`,
        `oci://${e.upstreams.ghcr.host}/other-org → oci://${harborHost}/${project}/other-org`,
      ],
    ],
  );
  assert.equal(
    (await helmRepositoryPatches.plan(await ctx([]))).length,
    1,
    'without the list, discovery alone: the prefix',
  );

  await helmRepository('classic', 'https://charts.example.org');
  const refused = await ctx(['classic']);
  for (const run of [() => helmRepositoryPatches.plan(refused), () => helmRepositoryPatches.apply(refused)])
    await assert.rejects(run(), (error: unknown) => {
      assert.match(
        String(error),
        /HelmRepository .*\/classic \(in helmRepositories\.names\) serves https:\/\/charts\.example\.org: only an OCI repository/,
      );
      return true;
    });
  for (const name of ['discovered', 'other-org'])
    assert.match(
      (await getFlux(cluster, 'helmrepositories', namespace, name)).spec.url ?? '',
      new RegExp(`^oci://${e.upstreams.ghcr.host.replace(/\./g, '\\.')}/`),
      `${name} not written`,
    );
});

test('07 catalyst-api-env-patch: the env var names the local repo, other settings stay, the rollout completes; a second run changes nothing', async () => {
  const namespace = await testNamespace('catalyst', cleanups);
  const image = `${e.upstreams.ghcr.host}/openova-io/catalyst-api:1.0.0`;
  await k.apps.createNamespacedDeployment({
    namespace,
    body: {
      metadata: { name: 'catalyst-api' },
      spec: {
        replicas: 1,
        selector: { matchLabels: { app: 'catalyst-api' } },
        template: {
          metadata: { labels: { app: 'catalyst-api' } },
          spec: {
            containers: [
              {
                name: 'catalyst-api',
                image,
                env: [
                  { name: 'CATALYST_GITOPS_REPO_URL', value: e.git.repoURL },
                  { name: 'KEEP_ME', value: 'yes' },
                ],
              },
            ],
          },
        },
      },
    },
  });
  const ctx = await ctxFor(namespace, (v) => {
    v.catalystAPI = { deploymentName: 'catalyst-api', namespace, envVar: 'CATALYST_GITOPS_REPO_URL' };
  });
  assert.equal((await catalystApiEnvPatch.plan(ctx)).length, 1);
  await catalystApiEnvPatch.apply(ctx);
  await catalystApiEnvPatch.verify(ctx);
  const d = await k.apps.readNamespacedDeployment({ name: 'catalyst-api', namespace });
  const env = d.spec?.template.spec?.containers[0]?.env ?? [];
  assert.equal(
    env.find((v) => v.name === 'CATALYST_GITOPS_REPO_URL')?.value,
    `${e.gitea.url}/${ctx.values.gitea.org}/${ctx.values.gitea.repo}`,
  );
  assert.equal(env.find((v) => v.name === 'KEEP_ME')?.value, 'yes');
  assert.deepEqual(await catalystApiEnvPatch.plan(ctx), []);
  await catalystApiEnvPatch.apply(ctx);
  assert.equal(
    (await k.apps.readNamespacedDeployment({ name: 'catalyst-api', namespace })).metadata?.generation,
    d.metadata?.generation,
  );
});
