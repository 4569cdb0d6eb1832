// Runs alone (it cuts the shared lab's upstream): with upstream cut, a pod whose image its node
// never pulled shows ErrImagePull / ImagePullBackOff — the lab kubelet really pulls.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { DistributionClient } from '../../src/adapters/oci/distribution-client.ts';
import { cutUpstream, restoreUpstream } from '../../lab/lab.ts';
import { eventually, kube, testNamespace } from '../support/kube.ts';
import { lab, pushFreshImage, uniqueName } from '../support/lab.ts';

const quiet = (): void => {};
const cleanups: Array<() => Promise<unknown>> = [];
after(async () => {
  await restoreUpstream(quiet);
  for (const cleanup of cleanups.reverse()) await cleanup();
});

test('after cut-upstream a pod needing a never-pulled upstream image shows ErrImagePull', async () => {
  const e = lab();
  const k = kube();
  const namespace = await testNamespace('egress', cleanups);
  const repo = `openova-io/${uniqueName('never-pulled')}`;
  await pushFreshImage(new DistributionClient(e.upstreams.ghcr.url), repo, 'v1');
  await cutUpstream(quiet);
  await k.core.createNamespacedPod({
    namespace,
    body: {
      metadata: { name: 'tethered' },
      spec: { restartPolicy: 'Never', containers: [{ name: 'app', image: `${e.upstreams.ghcr.host}/${repo}:v1` }] },
    },
  });
  const reason = await eventually(
    'the pull to fail',
    async () => {
      const pod = await k.core.readNamespacedPod({ name: 'tethered', namespace });
      const r = pod.status?.containerStatuses?.[0]?.state?.waiting?.reason;
      return r === 'ErrImagePull' || r === 'ImagePullBackOff' ? r : undefined;
    },
    60_000,
  );
  assert.match(reason, /^(ErrImagePull|ImagePullBackOff)$/);
  const pod = await k.core.readNamespacedPod({ name: 'tethered', namespace });
  assert.equal(pod.status?.phase, 'Pending');
  assert.match(pod.status?.containerStatuses?.[0]?.state?.waiting?.message ?? '', /pull/i);
});
