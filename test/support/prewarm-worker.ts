// A prewarm in a process of its own, so a test can SIGKILL it mid-copy. Prints `copied <n>` as
// blobs land. Usage: node test/support/prewarm-worker.ts '<json>'.
import { DistributionClient } from '../../src/adapters/oci/distribution-client.ts';
import { Prewarmer } from '../../src/prewarm/prewarm.ts';
import { trustPeersCa } from '../../lab/peers-pki.ts';

trustPeersCa(); // the local Harbor is on the Sovereign's private CA

const job = JSON.parse(process.argv[2] ?? '{}') as {
  source: string;
  target: string;
  credentials: { username: string; password: string };
  items: Array<{ sourceRepo: string; ref: string; targetRepo: string }>;
};
const source = new DistributionClient(job.source);
const target = new DistributionClient(job.target, job.credentials);
const prewarmer = new Prewarmer({
  blobConcurrency: 2,
  artifactConcurrency: 2,
  onProgress: (p) => console.log(`copied ${p.blobsCopied}`),
});
await prewarmer.run(
  job.items.map((i) => ({
    label: `${i.sourceRepo}:${i.ref}`,
    source,
    sourceRepo: i.sourceRepo,
    ref: i.ref,
    target,
    targetRepo: i.targetRepo,
  })),
);
console.log('done');
