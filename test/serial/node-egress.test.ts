// Runs alone (it cuts the shared lab's upstream): a tethered node pulls through the mothership
// per its hosts.toml; with upstream cut, an image the node never pulled cannot be had.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { DistributionClient } from '../../src/adapters/oci/distribution-client.ts';
import { cutUpstream, labNodes, restoreUpstream, status } from '../../lab/lab.ts';
import { ctr, pullOnNode } from '../../lab/nodes/containerd.ts';
import { harborApi, lab, pushFreshImage, uniqueName } from '../support/lab.ts';

const e = lab();
const nodeA = labNodes()[0]!;
const quiet = (): void => {};
const mothership = harborApi(e.mothership.url, e.mothership);
const cleanups: Array<() => Promise<unknown>> = [];
after(async () => {
  await restoreUpstream(quiet);
  for (const cleanup of cleanups.reverse()) await cleanup();
});

/** A unique image on the ghcr stand-in, removed from everywhere afterwards. */
async function freshUpstreamImage(): Promise<{ ref: string; repo: string; digest: string }> {
  const repo = `openova-io/${uniqueName('egress')}`;
  const upstream = new DistributionClient(e.upstreams.ghcr.url);
  const digest = await pushFreshImage(upstream, repo, 'v1');
  const ref = `${e.upstreams.ghcr.host}/${repo}:v1`;
  cleanups.push(async () => {
    await ctr(nodeA, ['images', 'rm', ref]);
    await mothership(
      'DELETE',
      `/projects/${e.mothership.proxyProjects.ghcr}/repositories/${encodeURIComponent(encodeURIComponent(repo))}`,
    );
    await fetch(`${e.upstreams.ghcr.url}/v2/${repo}/manifests/${digest}`, { method: 'DELETE' });
  });
  return { ref, repo, digest };
}

test('node-a pulls an upstream image through the mothership proxy project named in its hosts.toml', async () => {
  const image = await freshUpstreamImage();
  const pulled = await pullOnNode(nodeA, image.ref);
  assert.equal(pulled.code, 0, pulled.stderr);
  const listed = await ctr(nodeA, ['images', 'ls', '-q']);
  assert.ok(listed.stdout.split('\n').includes(image.ref));
  // The bytes came through the mothership: its proxy cache now holds the repository.
  const artifact = await mothership(
    'GET',
    `/projects/${e.mothership.proxyProjects.ghcr}/repositories/${encodeURIComponent(encodeURIComponent(image.repo))}/artifacts/v1`,
  );
  assert.equal(artifact.status, 200);
  assert.equal(artifact.body.digest, image.digest);
});

test('after cut-upstream a never-pulled image fails on node-a while local peers stay up', async () => {
  const image = await freshUpstreamImage();
  await cutUpstream(quiet);
  assert.equal(lab().upstreamCut, true);
  const pulled = await pullOnNode(nodeA, image.ref);
  assert.notEqual(pulled.code, 0, 'pull must fail with upstream cut');
  assert.match(pulled.stderr, /connection refused|failed to resolve|failed to do request/i);
  const peers = await status();
  assert.deepEqual(
    peers.filter((p) => p.role === 'upstream' && p.up).map((p) => p.peer),
    [],
    'every upstream peer is unreachable',
  );
  assert.deepEqual(
    peers.filter((p) => p.role === 'local' && !p.up).map((p) => p.peer),
    [],
    'local peers untouched',
  );
  await restoreUpstream(quiet);
  assert.equal(lab().upstreamCut, false);
  const again = await pullOnNode(nodeA, image.ref);
  assert.equal(again.code, 0, again.stderr);
});
