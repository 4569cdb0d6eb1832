// The prewarmer against real registries (the lab's ghcr stand-in → the local Harbor): every
// platform and blob by digest, through 10% injected upstream failures (a fault-injecting proxy in
// front of the real registry), after a SIGKILL mid-copy, with shared blobs mounted instead of
// copied twice; a second run only checks. The blob pump on its own: bytes land by digest, a wrong
// digest is refused; a blob only read is checked against its digest.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { test } from 'node:test';
import { corpusSpec, type ImageSpec } from '../lab/corpus/spec.ts';
import { REPO_ROOT } from '../lab/topology.ts';
import { HarborApi } from '../src/adapters/harbor/harbor-api.ts';
import { PeerError } from '../src/core/errors.ts';
import { BlobPump } from '../src/adapters/oci/blob-pump.ts';
import { pullThrough, type Retry } from '../src/adapters/oci/copier.ts';
import { DistributionClient } from '../src/adapters/oci/distribution-client.ts';
import { DEFAULT_ATTEMPTS, withRetries } from '../src/core/retry.ts';
import { isIndex, type ImageIndex } from '../src/adapters/oci/media-types.ts';
import { Prewarmer, type PrewarmItem } from '../src/prewarm/prewarm.ts';
import { FaultProxy } from './support/fault-proxy.ts';
import { cleanupsAfterAll, dropHarborProject, lab, uniqueName } from './support/lab.ts';

const e = lab();
const cleanups = cleanupsAfterAll();
const ghcrImages = corpusSpec('small').filter((a): a is ImageSpec => a.kind === 'image' && a.upstream === 'ghcr');
const local = new DistributionClient(e.localHarbor.url, e.localHarbor);
const upstream = new DistributionClient(e.upstreams.ghcr.url);

async function freshProject(prefix: string): Promise<string> {
  const project = uniqueName(prefix);
  await new HarborApi(e.localHarbor.url, e.localHarbor).createProject(project);
  cleanups.push(() => dropHarborProject(project));
  return project;
}

function items(source: DistributionClient, project: string): PrewarmItem[] {
  return ghcrImages.map((img) => ({
    label: `${img.repo}:${img.tag}`,
    source,
    sourceRepo: img.repo,
    ref: img.tag,
    target: local,
    targetRepo: `${project}/${img.repo}`,
  }));
}

/** Every image's tag in the project resolves to upstream's digest, with every platform manifest. */
async function assertComplete(project: string): Promise<void> {
  for (const img of ghcrImages) {
    const want = await upstream.headManifest(img.repo, img.tag);
    const got = await local.headManifest(`${project}/${img.repo}`, img.tag);
    assert.equal(got?.digest, want?.digest, img.repo);
    if (isIndex(got?.mediaType ?? '')) {
      const index = JSON.parse(
        Buffer.from((await local.getManifest(`${project}/${img.repo}`, got!.digest)).bytes).toString(),
      ) as ImageIndex;
      assert.equal(index.manifests.length, img.platforms.length);
      for (const child of index.manifests)
        assert.equal((await local.headManifest(`${project}/${img.repo}`, child.digest))?.digest, child.digest);
    }
  }
}

test('prewarm survives 10% injected upstream failures and ends with every digest present; a rerun only checks', async () => {
  const project = await freshProject('faults');
  const proxy = new FaultProxy(e.upstreams.ghcr.url, { failureRate: 0.1, seed: 7 });
  await proxy.start();
  cleanups.push(() => proxy.stop());
  const prewarmer = new Prewarmer(); // the default attempts
  const list = items(new DistributionClient(proxy.url), project);
  const report = await prewarmer.run(list);
  assert.ok(proxy.faults > 0, 'faults were injected');
  assert.ok(
    report.retries >= proxy.faults - 1,
    `every injected fault was retried (${report.retries} retries, ${proxy.faults} faults)`,
  );
  assert.deepEqual(await prewarmer.verify(list, report), []);
  await assertComplete(project);
  assert.ok(report.blobsMounted > 0, 'shared base layers were mounted, not copied again');

  // The final check reads the registry: a tag at another digest, a platform manifest that is not there.
  const indexAt = report.artifacts.findIndex((a) => a.platforms.length > 1);
  assert.ok(indexAt >= 0, 'the corpus has a multi-platform index');
  const absent = `sha256:${'0'.repeat(64)}`;
  const altered = report.artifacts.map((a, i) =>
    i === 0 ? { ...a, digest: absent } : i === indexAt ? { ...a, platforms: [...a.platforms, absent] } : a,
  );
  assert.deepEqual(
    (await prewarmer.verify(list, { ...report, artifacts: altered })).sort(),
    [
      `${list[0]!.label}: ${list[0]!.targetRepo}:${list[0]!.ref} is ${report.artifacts[0]!.digest}, expected ${absent}`,
      `${list[indexAt]!.label}: platform manifest ${absent} absent`,
    ].sort(),
  );

  const again = await new Prewarmer().run(items(upstream, project));
  assert.ok(
    again.artifacts.every((a) => a.present),
    'everything was already there',
  );
  assert.equal(again.bytesCopied, 0);
});

test('a blob read answered 401 mid-run (an expired token) renews the tokens once and the copy completes', async () => {
  const project = await freshProject('expired');
  const proxy = new FaultProxy(e.upstreams.ghcr.url, { failureRate: 0, unauthorizedBlobGets: 1 });
  await proxy.start();
  cleanups.push(() => proxy.stop());
  const prewarmer = new Prewarmer();
  const list = items(new DistributionClient(proxy.url), project);
  const report = await prewarmer.run(list);
  assert.equal(proxy.injected.unauthorized, 1);
  assert.equal(report.retries, 0, 'renewed in place, not retried as a transient failure');
  assert.deepEqual(await prewarmer.verify(list, report), []);
  await assertComplete(project);
});

test('prewarm killed mid-copy: the next run carries on from what landed and completes', async () => {
  const project = await freshProject('killed');
  const slow = new FaultProxy(e.upstreams.ghcr.url, { failureRate: 0, blobDelayMs: 150 });
  await slow.start();
  cleanups.push(() => slow.stop());
  const job = {
    source: slow.url,
    target: e.localHarbor.url,
    credentials: { username: e.localHarbor.username, password: e.localHarbor.password },
    items: ghcrImages.map((i) => ({ sourceRepo: i.repo, ref: i.tag, targetRepo: `${project}/${i.repo}` })),
  };
  const child = spawn(process.execPath, [join(REPO_ROOT, 'test/support/prewarm-worker.ts'), JSON.stringify(job)], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let output = '';
  await new Promise<void>((resolve, reject) => {
    child.stdout.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      if (/copied [3-9]/.test(output)) {
        child.kill('SIGKILL');
        resolve();
      }
    });
    child.on('close', () => reject(new Error(`the worker ended before it could be killed: ${output}`)));
  });
  assert.doesNotMatch(output, /done/, 'killed before it finished');
  const resumed = await new Prewarmer().run(items(upstream, project));
  assert.ok(resumed.blobsPresent > 0, 'blobs the killed run copied were not copied again');
  await assertComplete(project);
});

test('a pull-through (how proxy-mode hosts fill their cache) reads every platform and blob through 10% injected failures, bytes checked by digest', async () => {
  const proxy = new FaultProxy(e.upstreams.ghcr.url, { failureRate: 0.1, seed: 11 });
  await proxy.start();
  cleanups.push(() => proxy.stop());
  const client = new DistributionClient(proxy.url);
  const pump = new BlobPump();
  let retries = 0;
  const retry: Retry = (what, work) =>
    withRetries(what, work, { attempts: DEFAULT_ATTEMPTS, onRetry: () => retries++ });
  try {
    for (const img of ghcrImages)
      assert.equal(
        await pullThrough(client, img.repo, img.tag, pump, retry),
        (await upstream.headManifest(img.repo, img.tag))?.digest,
        img.repo,
      );
  } finally {
    await pump.close();
  }
  assert.ok(proxy.injected.truncated > 0, 'a blob was cut short mid-read (and read again)');
  assert.ok(
    retries >= proxy.faults - 1,
    `every injected fault was retried (${retries} retries, ${proxy.faults} faults)`,
  );
});

test('the blob pump streams a blob into an upload session; a wrong digest is refused and reported without credentials', async () => {
  const project = await freshProject('pump');
  const img = ghcrImages[0]!;
  const top = await upstream.getManifest(img.repo, img.tag);
  const manifest = isIndex(top.mediaType)
    ? await upstream.getManifest(
        img.repo,
        (JSON.parse(Buffer.from(top.bytes).toString()) as ImageIndex).manifests[0]!.digest,
      )
    : top;
  const layer = (
    JSON.parse(Buffer.from(manifest.bytes).toString()) as { layers: Array<{ digest: string; size: number }> }
  ).layers[0]!;
  const repo = `${project}/${img.repo}`;
  const pump = new BlobPump();
  try {
    // A digest the bytes do not have: the registry refuses the upload, the error names the PUT, not the token.
    const wrong = `sha256:${'0'.repeat(64)}`;
    const refused = await local.startUpload(repo);
    assert.equal(refused.mounted, false);
    const put = await local.uploadClose(repo, (refused as { location: string }).location, wrong);
    assert.match(put.headers.authorization ?? '', /^(Bearer|Basic) /);
    await assert.rejects(
      pump.copy({ get: await upstream.blobRead(img.repo, layer.digest), put, digest: wrong, size: layer.size }),
      (error: unknown) => {
        assert.ok(error instanceof PeerError);
        assert.equal(error.method, 'PUT');
        assert.equal(error.status, 400);
        assert.ok(!error.message.includes(put.headers.authorization!.split(' ')[1]!), 'no credentials in the error');
        return true;
      },
    );
    assert.equal(await local.hasBlob(repo, wrong), false);

    const session = await local.startUpload(repo);
    const bytes = await pump.copy({
      get: await upstream.blobRead(img.repo, layer.digest),
      put: await local.uploadClose(repo, (session as { location: string }).location, layer.digest),
      digest: layer.digest,
      size: layer.size,
    });
    assert.equal(bytes, layer.size);
    assert.equal(await local.hasBlob(repo, layer.digest), true);

    // Read only (a proxy cache fills itself): the pump checks the bytes against the digest itself.
    assert.equal(
      await pump.copy({ get: await local.blobRead(repo, layer.digest), digest: layer.digest, size: layer.size }),
      layer.size,
    );
    await assert.rejects(
      pump.copy({ get: await local.blobRead(repo, layer.digest), digest: wrong, size: layer.size }),
      (error: unknown) => {
        assert.ok(error instanceof PeerError);
        assert.deepEqual([error.method, error.status], ['GET', 200]);
        assert.match(error.message, /does not match sha256:0{64}/);
        return true;
      },
    );
  } finally {
    await pump.close();
  }
});
