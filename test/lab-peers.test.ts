// The lab's peers answer and hold what later issues build on: the corpus in the upstream
// registries, the GitOps repo on upstream Git, the mothership's proxy projects, both nodes.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { DistributionClient } from '../src/adapters/oci/distribution-client.ts';
import * as mt from '../src/adapters/oci/media-types.ts';
import { CHARTS } from '../lab/corpus/spec.ts';
import { labNodes, status } from '../lab/lab.ts';
import { ctr } from '../lab/nodes/containerd.ts';
import { harborApi, lab } from './support/lab.ts';

test('every lab peer answers', async () => {
  const peers = await status();
  assert.deepEqual(
    peers.filter((p) => !p.up).map((p) => p.peer),
    [],
  );
  assert.ok(peers.length >= 8);
});

test('the upstream registries hold an OCI index, a Docker schema2 image, a docker.io library/ image and every chart', async () => {
  const e = lab();
  const ghcr = new DistributionClient(e.upstreams.ghcr.url);
  const docker = new DistributionClient(e.upstreams.docker.url);

  const index = await ghcr.getManifest('openova-io/node-agent', '0.3.0');
  assert.equal(index.mediaType, mt.OCI_INDEX);
  const platforms = (JSON.parse(Buffer.from(index.bytes).toString()) as mt.ImageIndex).manifests
    .map((m) => m.platform?.architecture)
    .sort();
  assert.deepEqual(platforms, ['amd64', 'arm64']);

  const alpine = await docker.getManifest('library/alpine', '3.20');
  assert.equal(alpine.mediaType, mt.DOCKER_MANIFEST);
  const manifest = JSON.parse(Buffer.from(alpine.bytes).toString()) as mt.ImageManifest;
  assert.equal(manifest.layers[0]?.mediaType, mt.DOCKER_LAYER_GZIP);
  // Blobs really are there and match their digests (getBlob verifies).
  await docker.getBlob('library/alpine', manifest.config.digest);

  for (const chart of CHARTS) {
    const m = await ghcr.getManifest(`openova-io/${chart.name}`, chart.version);
    const parsed = JSON.parse(Buffer.from(m.bytes).toString()) as mt.ImageManifest;
    assert.equal(parsed.config.mediaType, mt.HELM_CONFIG, chart.name);
    assert.equal(parsed.layers[0]?.mediaType, mt.HELM_CHART_LAYER, chart.name);
  }
});

test('base layers are shared between images (same digest in several repositories)', async () => {
  const ghcr = new DistributionClient(lab().upstreams.ghcr.url);
  const layersOf = async (repo: string) =>
    (JSON.parse(Buffer.from((await ghcr.getManifest(repo, '1.0.0')).bytes).toString()) as mt.ImageManifest).layers.map(
      (l) => l.digest,
    );
  const api = await layersOf('openova-io/catalyst-api');
  const ui = await layersOf('openova-io/catalyst-ui');
  assert.equal(api[0], ui[0], 'shared base layer');
  assert.notEqual(api[1], ui[1], 'unique application layer');
});

test('upstream Git serves the GitOps repo with branches, a tag and bootstrap-kit slots on the ghcr stand-in', () => {
  const e = lab();
  const dir = mkdtempSync(join(tmpdir(), 'lab-clone-'));
  try {
    execFileSync('git', ['clone', '-q', e.git.repoURL, dir]);
    const git = (...args: string[]) => execFileSync('git', ['-C', dir, ...args], { encoding: 'utf8' }).trim();
    assert.ok(Number(git('rev-list', '--count', 'HEAD')) >= 3, 'several commits');
    assert.match(git('tag', '--list'), new RegExp(e.git.tag));
    assert.match(git('branch', '-r'), new RegExp(`origin/${e.git.secondBranch}`));
    const slots = readdirSync(join(dir, 'clusters/_template/bootstrap-kit'));
    assert.ok(slots.length >= 6);
    for (const slot of slots) {
      const text = readFileSync(join(dir, 'clusters/_template/bootstrap-kit', slot), 'utf8');
      assert.match(text, /kind: HelmRepository/);
      assert.ok(text.includes(`url: oci://${e.upstreams.ghcr.host}/openova-io`), slot);
    }
    assert.ok(
      readFileSync(join(dir, 'clusters/_template/flux-system/gitrepository.yaml'), 'utf8').includes(
        `url: ${e.git.repoURL}`,
      ),
    );
    const api = readFileSync(join(dir, 'products/catalyst/catalyst-api.yaml'), 'utf8');
    assert.match(api, /name: CATALYST_GITOPS_REPO_URL\n\s+value: (\S+)/);
    assert.ok(api.includes(`value: ${e.git.repoURL}`));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('upstream Git refuses pushes (it stands for GitHub, read-only to the Sovereign)', async () => {
  const res = await fetch(`${lab().git.repoURL}/info/refs?service=git-receive-pack`);
  assert.equal(res.status, 403);
});

test('the mothership has one proxy-cache project per upstream, each on a registry endpoint', async () => {
  const e = lab();
  const api = harborApi(e.mothership.url, e.mothership);
  for (const [upstream, project] of Object.entries(e.mothership.proxyProjects)) {
    const got = await api('GET', `/projects/${project}`, undefined, { anonymous: true });
    assert.equal(got.status, 200, project);
    assert.ok(got.body.registry_id > 0, `${project} is a proxy-cache project`);
    const registry = await api('GET', `/registries/${got.body.registry_id}`);
    assert.equal(registry.body.url, e.upstreams[upstream as keyof typeof e.upstreams].url);
  }
});

test('each node is tethered: its certs.d sends every upstream host to the mothership proxy project', async () => {
  const e = lab();
  for (const node of labNodes()) {
    assert.equal((await ctr(node, ['version'])).code, 0, `${node.name} containerd answers`);
    for (const [upstream, project] of Object.entries(e.mothership.proxyProjects)) {
      const host = e.upstreams[upstream as keyof typeof e.upstreams].host;
      const toml = readFileSync(join(e.nodes[node.name as keyof typeof e.nodes].certsDir, host, 'hosts.toml'), 'utf8');
      assert.ok(toml.includes(`[host."${e.mothership.url}/v2/${project}"]`), `${node.name} ${host}`);
      assert.match(toml, /override_path = true/);
    }
  }
});
