// Step 03 harbor-prewarm against the lab: every workload image, prewarm image and OCI chart of
// the seeded Sovereign ends up complete in the local Harbor (mirror: copied; proxy: pulled
// through), same digests, every platform; a second run has nothing left to do. Serial: step 03
// reads every workload in the cluster, and a parallel test's planted unmapped tethers would fail it.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { KubeCluster } from '../../src/adapters/kube/cluster.ts';
import { DistributionClient } from '../../src/adapters/oci/distribution-client.ts';
import { presentByDigest } from '../../src/adapters/oci/completeness.ts';
import { buildStepEnv } from '../../src/composition.ts';
import { parseValues } from '../../src/core/values.ts';
import { harborPrewarm } from '../../src/steps/harbor-prewarm.ts';
import { harborProjects } from '../../src/steps/harbor-projects.ts';
import { cleanupsAfterAll, dropHarborProject, harborApi, lab, uniqueName } from '../support/lab.ts';

const e = lab();
const api = harborApi(e.localHarbor.url, e.localHarbor);
const cleanups = cleanupsAfterAll();

test('03 harbor-prewarm copies every in-use artifact (all platforms, same digest) and a second run has nothing to do', async () => {
  const ghcr = uniqueName('ghcr');
  const docker = uniqueName('docker');
  const quay = uniqueName('quay');
  const values = parseValues(readFileSync(e.valuesFile, 'utf8'));
  values.harbor.hostProjects = [
    {
      host: e.upstreams.ghcr.host,
      project: ghcr,
      mode: 'mirror',
      upstreamURL: e.upstreams.ghcr.url,
      registryType: 'github-ghcr',
      authMode: 'credential',
    },
    {
      host: e.upstreams.docker.host,
      project: docker,
      mode: 'mirror',
      upstreamURL: e.upstreams.docker.url,
      registryType: 'docker-hub',
      authMode: 'anonymous',
    },
    {
      host: e.upstreams.quay.host,
      project: quay,
      mode: 'proxy',
      upstreamURL: e.upstreams.quay.url,
      registryType: 'docker-registry',
      authMode: 'anonymous',
    },
  ];
  values.prewarm.images = [`${quay}/kyverno/kyverno:v1.13.4`, `${docker}/grafana/loki:3.3.2`];
  cleanups.push(async () => {
    for (const p of [ghcr, docker, quay]) await dropHarborProject(p);
    const endpoint = (await api('GET', `/registries?q=name%3D${quay}-upstream`)).body[0];
    if (endpoint) await api('DELETE', `/registries/${endpoint.id}`);
  });
  const lines: string[] = [];
  const ctx = {
    values,
    env: await buildStepEnv(values, KubeCluster.connect(e.kube.kubeconfig), 'catalyst'),
    log: (l: string) => lines.push(l),
    signal: AbortSignal.timeout(300_000),
  };
  await harborProjects.apply(ctx);
  const planned = await harborPrewarm.plan(ctx);
  assert.ok(planned.length >= 10, `many artifacts to prewarm (${planned.length})`);
  await harborPrewarm.apply(ctx);
  await harborPrewarm.verify(ctx);

  const local = new DistributionClient(e.localHarbor.url, e.localHarbor);
  const upstreamGhcr = new DistributionClient(e.upstreams.ghcr.url);
  // A chart, a multi-arch index (both platforms), a docker.io library image, a proxied quay image.
  const chart = await upstreamGhcr.headManifest('openova-io/bp-cilium', '1.16.5');
  assert.ok(await presentByDigest(local, `${ghcr}/openova-io/bp-cilium`, '1.16.5', chart!.digest));
  const index = await upstreamGhcr.headManifest('openova-io/sovereign-cutover', '0.1.0');
  assert.ok(await presentByDigest(local, `${ghcr}/openova-io/sovereign-cutover`, '0.1.0', index!.digest));
  const alpine = await new DistributionClient(e.upstreams.docker.url).headManifest('library/alpine', '3.20');
  assert.equal((await local.headManifest(`${docker}/library/alpine`, '3.20'))?.digest, alpine!.digest);
  const kyverno = await new DistributionClient(e.upstreams.quay.url).headManifest('kyverno/kyverno', 'v1.13.4');
  assert.equal((await local.headManifest(`${quay}/kyverno/kyverno`, 'v1.13.4'))?.digest, kyverno!.digest);

  assert.deepEqual(await harborPrewarm.plan(ctx), [], 'converged');
  lines.length = 0;
  await harborPrewarm.apply(ctx);
  assert.ok(
    lines.some((l) => /^copied 0 artifacts \(\d+ already complete\): 0 blobs \/ 0\.0 MB streamed/.test(l)),
    `second run copies nothing: ${lines.join(' | ')}`,
  );
});

test('03 harbor-prewarm refuses a tether to a host the table does not map, before copying anything', async () => {
  const values = parseValues(readFileSync(e.valuesFile, 'utf8'));
  values.harbor.hostProjects = values.harbor.hostProjects.filter((r) => r.host !== e.upstreams.quay.host);
  const ctx = {
    values,
    env: await buildStepEnv(values, KubeCluster.connect(e.kube.kubeconfig), 'catalyst'),
    log: () => {},
    signal: AbortSignal.timeout(60_000),
  };
  await assert.rejects(
    harborPrewarm.apply(ctx),
    (err: Error) =>
      err.message.includes(`${e.upstreams.quay.host}/cilium/cilium:v1.16.5`) && /does not map/.test(err.message),
  );
});
