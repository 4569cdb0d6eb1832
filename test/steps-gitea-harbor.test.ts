// Steps 01 gitea-mirror and 02 harbor-projects against the real Gitea and the Harbor double:
// plan → apply → verify, then a second run that changes nothing. Each test uses names of its own.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import {
  createOrgBody,
  createUserBody,
  editMirrorIntervalBody,
  migrateBody,
  readCollaboratorBody,
  readTokenBody,
  setPasswordBody,
} from '../src/adapters/gitea/gitea-forge.ts';
import { projectBody, pullRobotBody, registryBody } from '../src/adapters/harbor/harbor-api.ts';
import { KubeCluster } from '../src/adapters/kube/cluster.ts';
import { buildStepEnv } from '../src/composition.ts';
import type { StepContext } from '../src/core/step.ts';
import { parseValues, type Values } from '../src/core/values.ts';
import type { StepEnv } from '../src/steps/env.ts';
import { giteaMirror } from '../src/steps/gitea-mirror.ts';
import { harborProjects } from '../src/steps/harbor-projects.ts';
import { SwaggerValidator } from '../lab/swagger-validator.ts';
import { cleanupsAfterAll, dropGiteaOrg, forkUpstreamRepo, harborApi, lab, uniqueName } from './support/lab.ts';
import { kube, testNamespace } from './support/kube.ts';
import { GITEA_SWAGGER, HARBOR_SWAGGER, UPSTREAM_GIT_PRIVATE } from '../lab/topology.ts';

const e = lab();
const cleanups = cleanupsAfterAll();

function testValues(mutate: (v: Values) => void): Values {
  const values = parseValues(readFileSync(e.valuesFile, 'utf8'));
  mutate(values);
  return values;
}

async function context(values: Values): Promise<StepContext<StepEnv> & { lines: string[] }> {
  const lines: string[] = [];
  const env = await buildStepEnv(values, KubeCluster.connect(e.kube.kubeconfig), 'catalyst');
  return { values, env, log: (l) => lines.push(l), signal: AbortSignal.timeout(120_000), lines };
}

describe("request bodies match the peers' specs", () => {
  test('Gitea bodies validate against swagger.v1.22.json', () => {
    const gitea = new SwaggerValidator(GITEA_SWAGGER);
    const check = (method: string, path: string, body: unknown) =>
      gitea.validateRequest(gitea.match(method, path)!, new URLSearchParams(), {}, body);
    check('POST', '/orgs', createOrgBody('openova'));
    check(
      'POST',
      '/repos/migrate',
      migrateBody({
        cloneAddr: 'https://github.com/openova-io/openova',
        owner: 'openova',
        name: 'openova',
        interval: '10m0s',
      }),
    );
    check('PATCH', '/repos/openova/openova', editMirrorIntervalBody('10m0s'));
    check('POST', '/admin/users', createUserBody('sovereign-cutover-flux', 'pw'));
    check('PATCH', '/admin/users/sovereign-cutover-flux', setPasswordBody('sovereign-cutover-flux', 'pw'));
    check('PUT', '/repos/openova/openova/collaborators/sovereign-cutover-flux', readCollaboratorBody());
    check('POST', '/users/sovereign-cutover-flux/tokens', readTokenBody('flux'));
  });

  test('Harbor bodies validate against swagger.yaml', () => {
    const harbor = new SwaggerValidator(HARBOR_SWAGGER);
    const check = (method: string, path: string, body: unknown) =>
      harbor.validateRequest(harbor.match(method, path)!, new URLSearchParams(), {}, body);
    check('POST', '/projects', projectBody('proxy-ghcr'));
    check('POST', '/projects', projectBody('proxy-ghcr', 3));
    check('POST', '/robots', pullRobotBody('sovereign-cutover-pull', ['ghcr-mirror', 'hub']));
    check('PUT', '/robots/7', {
      ...pullRobotBody('sovereign-cutover-pull', ['hub']),
      name: 'robot$sovereign-cutover-pull',
    });
    check('PATCH', '/robots/7', {});
    check(
      'POST',
      '/registries',
      registryBody({
        name: 'proxy-ghcr-upstream',
        type: 'github-ghcr',
        url: 'https://ghcr.io',
        credential: { username: 'u', password: 'p' },
      }),
    );
  });
});

test("01 gitea-mirror: creates a pull mirror at upstream's head; a second run only re-syncs", async () => {
  const org = uniqueName('org');
  const values = testValues((v) => {
    v.gitea.org = org;
    v.gitea.repo = 'openova';
  });
  const headers = { authorization: `token ${e.gitea.token}` };
  cleanups.push(() => dropGiteaOrg(org));
  const ctx = await context(values);
  assert.deepEqual(
    (await giteaMirror.plan(ctx)).map((c) => c.action),
    ['create', 'create'],
  );
  await giteaMirror.apply(ctx);
  await giteaMirror.verify(ctx);
  const repo = (await (await fetch(`${e.gitea.url}/api/v1/repos/${org}/openova`, { headers })).json()) as {
    id: number;
    mirror: boolean;
    mirror_interval: string;
  };
  assert.equal(repo.mirror, true);
  assert.equal(repo.mirror_interval, '10m0s');

  assert.deepEqual(
    (await giteaMirror.plan(ctx)).map((c) => c.action),
    ['sync'],
    'converged: only a sync remains',
  );
  await giteaMirror.apply(ctx);
  await giteaMirror.verify(ctx);
  const again = (await (await fetch(`${e.gitea.url}/api/v1/repos/${org}/openova`, { headers })).json()) as {
    id: number;
  };
  assert.equal(again.id, repo.id, 'the same repository, not a new one');
});

test('01 gitea-mirror: a private upstream is mirrored with the credential its Secret holds (never logged); without it the step fails saying so', async () => {
  const fork = forkUpstreamRepo(cleanups, { private: true });
  const namespace = await testNamespace('git-credential', cleanups);
  await kube().core.createNamespacedSecret({
    namespace,
    body: {
      metadata: { name: 'upstream-git' },
      stringData: { username: UPSTREAM_GIT_PRIVATE.username, password: UPSTREAM_GIT_PRIVATE.password },
    },
  });
  const mirrorOf = async (withCredential: boolean) => {
    const org = uniqueName('org');
    cleanups.push(() => dropGiteaOrg(org));
    const values = testValues((v) => {
      v.upstream.repoURL = fork.url;
      v.gitea.org = org;
      if (withCredential)
        v.upstream.credentialsSecretRef = { ...v.upstream.credentialsSecretRef, name: 'upstream-git', namespace };
    });
    return { org, ctx: await context(values) };
  };
  const refused = await mirrorOf(false);
  await assert.rejects(
    (async () => {
      await giteaMirror.apply(refused.ctx);
      await giteaMirror.verify(refused.ctx);
    })(),
    /asks for a credential: a private repository needs upstream\.credentialsSecretRef/,
  );
  const { org, ctx } = await mirrorOf(true);
  await giteaMirror.apply(ctx);
  await giteaMirror.verify(ctx);
  const repo = (await (
    await fetch(`${e.gitea.url}/api/v1/repos/${org}/openova`, { headers: { authorization: `token ${e.gitea.token}` } })
  ).json()) as { mirror: boolean; original_url: string };
  assert.equal(repo.mirror, true);
  assert.ok(!repo.original_url.includes(UPSTREAM_GIT_PRIVATE.password), 'Gitea keeps the credential out of its URL');
  assert.ok(!ctx.lines.join('\n').includes(UPSTREAM_GIT_PRIVATE.password), 'the credential is never logged');
});

test('01 gitea-mirror: an existing non-mirror repository is a clear failure, not a silent success', async () => {
  const org = uniqueName('org');
  const headers = { authorization: `token ${e.gitea.token}`, 'content-type': 'application/json' };
  cleanups.push(() => dropGiteaOrg(org));
  await fetch(`${e.gitea.url}/api/v1/orgs`, { method: 'POST', headers, body: JSON.stringify({ username: org }) });
  await fetch(`${e.gitea.url}/api/v1/orgs/${org}/repos`, {
    method: 'POST',
    headers,
    body: JSON.stringify({ name: 'openova' }),
  });
  const ctx = await context(testValues((v) => (v.gitea.org = org)));
  await assert.rejects(giteaMirror.apply(ctx), /not a pull mirror/);
});

test('01 gitea-mirror: a mirror of another remote is a clear failure at once, not a wait until the deadline', async () => {
  const org = uniqueName('org');
  cleanups.push(() => dropGiteaOrg(org));
  const fork = forkUpstreamRepo(cleanups);
  // A mirror of the fork, made the way the step makes one…
  const first = await context(testValues((v) => ((v.gitea.org = org), (v.upstream.repoURL = fork.url))));
  await giteaMirror.apply(first);
  await giteaMirror.verify(first);
  // …then values that name the real upstream.
  const ctx = await context(testValues((v) => (v.gitea.org = org)));
  const started = performance.now();
  await assert.rejects(giteaMirror.apply(ctx), (error: Error) => {
    assert.match(error.message, /mirrors .*lab-tests.*, not upstream\.repoURL .*openova-io\/openova/);
    assert.match(error.message, /Gitea cannot change a pull mirror's remote/);
    return true;
  });
  assert.ok(performance.now() - started < 10_000);
});

/** A proxy-mode row for the ghcr stand-in, into `project`. */
const ghcrProxyRow = (project: string) => ({
  host: e.upstreams.ghcr.host,
  project,
  mode: 'proxy' as const,
  upstreamURL: e.upstreams.ghcr.url,
  registryType: 'github-ghcr',
  authMode: 'credential' as const,
});

test('02 harbor-projects: mirror and proxy projects exist in their modes; a second run changes nothing', async () => {
  const api = harborApi(e.localHarbor.url, e.localHarbor);
  const mirror = uniqueName('mirror');
  const proxy = uniqueName('proxy');
  const values = testValues((v) => {
    v.harbor.hostProjects = [
      {
        host: e.upstreams.docker.host,
        project: mirror,
        mode: 'mirror',
        upstreamURL: e.upstreams.docker.url,
        registryType: 'docker-hub',
        authMode: 'anonymous',
      },
      ghcrProxyRow(proxy),
    ];
  });
  cleanups.push(async () => {
    await api('DELETE', `/projects/${mirror}`);
    await api('DELETE', `/projects/${proxy}`);
    const endpoint = (await api('GET', `/registries?q=name%3D${proxy}-upstream`)).body[0];
    if (endpoint) await api('DELETE', `/registries/${endpoint.id}`);
  });
  const ctx = await context(values);
  assert.equal((await harborProjects.plan(ctx)).length, 3, 'endpoint + two projects');
  await harborProjects.apply(ctx);
  await harborProjects.verify(ctx);
  const proxyProject = await api('GET', `/projects/${proxy}`);
  assert.ok(proxyProject.body.registry_id > 0);
  const endpoint = await api('GET', `/registries/${proxyProject.body.registry_id}`);
  assert.equal(endpoint.body.url, e.upstreams.ghcr.url);
  assert.equal(
    endpoint.body.credential.access_key,
    'openova-robot',
    'credential taken from the ghcr-pull dockerconfigjson',
  );
  assert.equal((await api('GET', `/projects/${mirror}`)).body.registry_id, 0);

  assert.deepEqual(await harborProjects.plan(ctx), [], 'converged');
  await harborProjects.apply(ctx);
  await harborProjects.verify(ctx);
  assert.equal((await api('GET', `/projects/${proxy}`)).body.project_id, proxyProject.body.project_id);
});

test('02 harbor-projects: a proxy cache the original chart made (on an endpoint of its own name) is adopted, not failed or doubled', async () => {
  const api = harborApi(e.localHarbor.url, e.localHarbor);
  const proxy = uniqueName('proxy-ghcr');
  const theirs = `${proxy}-original`;
  cleanups.push(async () => {
    await api('DELETE', `/projects/${proxy}`);
    for (const name of [theirs, `${proxy}-upstream`]) {
      const endpoint = (await api('GET', `/registries?q=name%3D${name}`)).body[0];
      if (endpoint) await api('DELETE', `/registries/${endpoint.id}`);
    }
  });
  // What the original's step 02 left: its endpoint, its proxy project.
  assert.equal(
    (await api('POST', '/registries', { name: theirs, type: 'github-ghcr', url: e.upstreams.ghcr.url })).status,
    201,
  );
  const endpoint = (await api('GET', `/registries?q=name%3D${theirs}`)).body[0];
  assert.equal(
    (await api('POST', '/projects', { project_name: proxy, registry_id: endpoint.id, metadata: { public: 'true' } }))
      .status,
    201,
  );
  const values = testValues((v) => {
    v.harbor.hostProjects = [ghcrProxyRow(proxy)];
  });
  const ctx = await context(values);
  assert.deepEqual(await harborProjects.plan(ctx), [], 'nothing to create');
  await harborProjects.apply(ctx);
  await harborProjects.verify(ctx);
  assert.equal((await api('GET', `/projects/${proxy}`)).body.registry_id, endpoint.id, 'still on their endpoint');
  assert.deepEqual((await api('GET', `/registries?q=name%3D${proxy}-upstream`)).body, [], 'no second endpoint');
  // A project of that name caching another registry is not adopted: it would serve the wrong images.
  const other = testValues((v) => {
    v.harbor.hostProjects = [{ ...ghcrProxyRow(proxy), upstreamURL: e.upstreams.quay.url }];
  });
  await assert.rejects(harborProjects.apply(await context(other)), /is already a proxy cache of .*, not of/);
});
