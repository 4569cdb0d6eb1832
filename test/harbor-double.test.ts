// The Harbor v2.0 API double (local Harbor): spec validation, registries, projects, the /v2
// token flow, push and proxy-cache routing — against real docker-registry stores.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { HarborApi } from '../src/adapters/harbor/harbor-api.ts';
import { DistributionClient } from '../src/adapters/oci/distribution-client.ts';
import { PeerError } from '../src/core/errors.ts';
import { freePort } from '../lab/processes.ts';
import { registryUrl, startRegistry, stopRegistry } from '../lab/registry.ts';
import { cleanupsAfterAll, harborApi, lab, pushFreshImage, uniqueName } from './support/lab.ts';

const e = lab();
const api = harborApi(e.localHarbor.url, e.localHarbor);
const cleanups = cleanupsAfterAll();

async function createRegistry(url: string): Promise<number> {
  const name = uniqueName('reg');
  const created = await api('POST', '/registries', { name, type: 'docker-registry', url, insecure: true });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  const found = await api('GET', `/registries?q=name%3D${name}`);
  const id = found.body[0]?.id as number;
  cleanups.push(() => api('DELETE', `/registries/${id}`));
  return id;
}

async function createProject(body: Record<string, unknown>): Promise<void> {
  const created = await api('POST', '/projects', body);
  assert.equal(created.status, 201, JSON.stringify(created.body));
  assert.match(created.headers.get('location') ?? '', /^\/api\/v2\.0\/projects\/\d+$/);
  cleanups.push(() => api('DELETE', `/projects/${body.project_name}`, undefined));
}

describe('API basics', () => {
  test('ping, health and systeminfo answer anonymously', async () => {
    assert.equal((await api('GET', '/ping', undefined, { anonymous: true })).body, 'Pong');
    const health = await api('GET', '/health', undefined, { anonymous: true });
    assert.equal(health.body.status, 'healthy');
    const info = await api('GET', '/systeminfo', undefined, { anonymous: true });
    assert.equal(info.status, 200);
    assert.match(info.body.harbor_version, /^v2\./);
  });

  test('writes need credentials; wrong credentials are 401', async () => {
    assert.equal((await api('POST', '/projects', { project_name: uniqueName('p') }, { anonymous: true })).status, 401);
    const wrong = harborApi(e.localHarbor.url, { username: 'admin', password: 'wrong' });
    assert.equal((await wrong('GET', '/registries')).status, 401);
  });

  test('a request body the swagger forbids is rejected with 400 and changes nothing', async () => {
    const name = uniqueName('bad');
    const wrongType = await api('POST', '/projects', { project_name: name, public: 'yes' });
    assert.equal(wrongType.status, 400);
    assert.match(wrongType.body.errors[0].message, /public/);
    const badRegistryId = await api('POST', '/projects', { project_name: name, registry_id: 'one' });
    assert.equal(badRegistryId.status, 400);
    const badRegistry = await api('POST', '/registries', {
      name,
      type: 'docker-registry',
      url: 'http://x',
      insecure: 'no',
    });
    assert.equal(badRegistry.status, 400);
    const notJson = await api('POST', '/projects', undefined, { rawBody: '{nope' });
    assert.equal(notJson.status, 400);
    assert.equal((await api('HEAD', `/projects?project_name=${name}`)).status, 404);
    assert.equal((await api('GET', `/registries?q=name%3D${name}`)).body.length, 0);
  });

  test('query parameters are validated too', async () => {
    assert.equal((await api('GET', '/projects?page_size=1000')).status, 400);
    assert.equal((await api('GET', '/projects?public=maybe')).status, 400);
  });
});

describe('registries', () => {
  test('create, look up by q and by name, ping, update, 409 on a duplicate name, 412 while in use', async () => {
    const url = e.upstreams.quay.url;
    const id = await createRegistry(url);
    const got = await api('GET', `/registries/${id}`);
    assert.equal(got.body.url, url);
    const byName = await api('GET', `/registries?name=${got.body.name}`);
    assert.equal(byName.body[0]?.id, id);
    const dup = await api('POST', '/registries', { name: got.body.name, type: 'docker-registry', url });
    assert.equal(dup.status, 409);
    assert.equal((await api('POST', '/registries/ping', { id })).status, 200);
    assert.equal(
      (await api('POST', '/registries/ping', { type: 'docker-registry', url: `http://127.0.0.1:${await freePort()}` }))
        .status,
      400,
    );
    assert.equal((await api('PUT', `/registries/${id}`, { description: 'quay stand-in' })).status, 200);
    assert.equal((await api('GET', `/registries/${id}`)).body.description, 'quay stand-in');
    const project = uniqueName('inuse');
    await createProject({ project_name: project, public: true, registry_id: id });
    assert.equal((await api('DELETE', `/registries/${id}`)).status, 412);
  });

  test('an unknown adapter type is refused like Harbor does', async () => {
    const r = await api('POST', '/registries', { name: uniqueName('r'), type: 'github', url: 'https://ghcr.io' });
    assert.equal(r.status, 400);
    assert.match(r.body.errors[0].message, /adapter factory for github not found/);
  });

  test('credentials are stored but never returned', async () => {
    const name = uniqueName('cred');
    const created = await api('POST', '/registries', {
      name,
      type: 'github-ghcr',
      url: e.upstreams.ghcr.url,
      credential: { type: 'basic', access_key: 'robot', access_secret: 's3cret-value' },
    });
    assert.equal(created.status, 201);
    const list = await api('GET', `/registries?q=name%3D${name}`);
    cleanups.push(() => api('DELETE', `/registries/${list.body[0].id}`));
    assert.equal(list.body[0].credential.access_key, 'robot');
    assert.ok(!JSON.stringify(list.body).includes('s3cret-value'));
  });
});

describe('projects and /v2', () => {
  test('push project: 201 then 409, HEAD/GET/list, token-authenticated push and anonymous pull', async () => {
    const project = uniqueName('mirror');
    await createProject({ project_name: project, public: true, metadata: { public: 'true' } });
    assert.equal((await api('POST', '/projects', { project_name: project })).status, 409);
    assert.equal((await api('HEAD', `/projects?project_name=${project}`)).status, 200);
    const got = await api('GET', `/projects/${project}`);
    assert.equal(got.body.registry_id, 0);
    assert.equal(got.body.metadata.public, 'true');
    assert.equal((await api('GET', `/projects?name=${project}`)).body.length, 1);

    const anonymous = new DistributionClient(e.localHarbor.url);
    await assert.rejects(
      pushFreshImage(anonymous, `${project}/app`, 'v1'),
      (err: unknown) => err instanceof PeerError && err.status === 401,
    );

    const admin = new DistributionClient(e.localHarbor.url, e.localHarbor);
    const digest = await pushFreshImage(admin, `${project}/team/app`, 'v1');
    cleanups.push(() =>
      api('DELETE', `/projects/${project}/repositories/${encodeURIComponent(encodeURIComponent('team/app'))}`),
    );
    const pulled = await anonymous.getManifest(`${project}/team/app`, 'v1');
    assert.equal(pulled.digest, digest);

    const repos = await api('GET', `/projects/${project}/repositories`);
    assert.deepEqual(
      repos.body.map((r: { name: string }) => r.name),
      [`${project}/team/app`],
    );
    const artifact = await api(
      'GET',
      `/projects/${project}/repositories/${encodeURIComponent(encodeURIComponent('team/app'))}/artifacts/v1`,
    );
    assert.equal(artifact.status, 200);
    assert.equal(artifact.body.digest, digest);
    assert.equal(artifact.body.tags[0].name, 'v1');
    assert.equal(
      (await api('DELETE', `/projects/${project}`)).status,
      412,
      'a project with repositories cannot be deleted',
    );
  });

  test('private project: anonymous pull is challenged and refused', async () => {
    const project = uniqueName('private');
    await createProject({ project_name: project, public: false });
    const res = await fetch(`${e.localHarbor.url}/v2/${project}/x/manifests/latest`);
    assert.equal(res.status, 401);
    assert.match(
      res.headers.get('www-authenticate') ?? '',
      new RegExp(`^Bearer realm="${e.localHarbor.url.replaceAll('.', '\\.')}/service/token",service="harbor-registry"`),
    );
    assert.equal((await api('GET', `/projects/${project}`, undefined, { anonymous: true })).status, 401);
  });

  test('proxy-cache project pulls through from its endpoint, caches, and refuses pushes', async () => {
    // A registry of this test's own stands in for the upstream, so stopping it cuts nobody else.
    const dir = mkdtempSync(join(tmpdir(), 'lab-upstream-'));
    const upstream = { name: 'test-upstream', port: await freePort(), dir };
    cleanups.push(async () => {
      await stopRegistry(upstream);
      rmSync(dir, { recursive: true, force: true });
    });
    await startRegistry(upstream);
    const digest = await pushFreshImage(new DistributionClient(registryUrl(upstream)), 'org/cached', '1.0');

    const registryId = await createRegistry(registryUrl(upstream));
    const project = uniqueName('proxy');
    await createProject({ project_name: project, public: true, registry_id: registryId, metadata: { public: 'true' } });
    cleanups.push(() =>
      api('DELETE', `/projects/${project}/repositories/${encodeURIComponent(encodeURIComponent('org/cached'))}`),
    );

    const client = new DistributionClient(e.localHarbor.url, e.localHarbor);
    const first = await client.getManifest(`${project}/org/cached`, '1.0');
    assert.equal(first.digest, digest);
    const layers = (JSON.parse(Buffer.from(first.bytes).toString()) as { layers: Array<{ digest: string }> }).layers;
    for (const layer of layers) await client.getBlob(`${project}/org/cached`, layer.digest);

    await assert.rejects(
      pushFreshImage(client, `${project}/org/other`, 'v1'),
      (err: unknown) => err instanceof PeerError && err.status === 403,
    );

    await stopRegistry(upstream);
    const cached = await new DistributionClient(e.localHarbor.url).getManifest(`${project}/org/cached`, digest);
    assert.equal(cached.digest, digest, 'served from the cache with the upstream gone');
    for (const layer of layers) await client.getBlob(`${project}/org/cached`, layer.digest);
    const repos = await api('GET', `/projects/${project}/repositories`);
    assert.deepEqual(
      repos.body.map((r: { name: string }) => r.name),
      [`${project}/org/cached`],
    );
  });
});

describe('robot accounts', () => {
  test('a pull robot pulls in its projects only: no push, no other private project, no API; a refresh retires the old secret; deletion ends it', async () => {
    const mine = uniqueName('robot-proj');
    const other = uniqueName('robot-other');
    await createProject({ project_name: mine, public: false });
    await createProject({ project_name: other, public: false });
    const admin = new DistributionClient(e.localHarbor.url, e.localHarbor);
    await pushFreshImage(admin, `${mine}/app`, 'v1');
    await pushFreshImage(admin, `${other}/app`, 'v1');
    const harbor = new HarborApi(e.localHarbor.url, e.localHarbor);
    const name = uniqueName('pull');
    cleanups.push(() => harbor.deleteRobot(name));
    const first = await harbor.rotatePullRobot(name, [mine]);
    assert.equal(first.username, `robot$${name}`);
    const asRobot = (c: { username: string; password: string }) => new DistributionClient(e.localHarbor.url, c);
    assert.ok(await asRobot(first).headManifest(`${mine}/app`, 'v1'), 'pulls in its project');
    await assert.rejects(
      asRobot(first).getManifest(`${other}/app`, 'v1'),
      (err: unknown) => err instanceof PeerError && err.status === 401,
    );
    await assert.rejects(
      asRobot(first).pushBlob(`${mine}/app`, `sha256:${'1'.repeat(64)}`, Buffer.from('x')),
      (err: unknown) => err instanceof PeerError && err.status === 401,
      'no push',
    );
    const viaApi = await fetch(`${e.localHarbor.url}/api/v2.0/projects`, {
      method: 'POST',
      headers: {
        authorization: `Basic ${Buffer.from(`${first.username}:${first.password}`).toString('base64')}`,
        'content-type': 'application/json',
      },
      body: JSON.stringify({ project_name: uniqueName('nope') }),
    });
    assert.equal(viaApi.status, 401, 'no admin API');
    // A rerun: the same robot, a new secret; the old one no longer works.
    const second = await harbor.rotatePullRobot(name, [mine]);
    assert.equal(second.username, first.username);
    assert.notEqual(second.password, first.password);
    await assert.rejects(
      asRobot(first).getManifest(`${mine}/app`, 'v1'),
      (err: unknown) => err instanceof PeerError && err.status === 401,
    );
    assert.ok(await asRobot(second).headManifest(`${mine}/app`, 'v1'));
    assert.equal(await harbor.deleteRobot(name), true);
    await assert.rejects(
      asRobot(second).getManifest(`${mine}/app`, 'v1'),
      (err: unknown) => err instanceof PeerError && err.status === 401,
    );
    assert.equal(await harbor.deleteRobot(name), false);
  });
});
