// Child process of the prewarm benchmark: the project's prewarmer copying refs source → target.
// Prints one JSON line: seconds, bytes copied, peak RSS.
import { readFileSync } from 'node:fs';
import { DistributionClient } from '../src/adapters/oci/distribution-client.ts';
import { Prewarmer } from '../src/prewarm/prewarm.ts';

const job = JSON.parse(process.argv[2] ?? '{}') as {
  source: string;
  target: string;
  prefix: string;
  refs: Array<{ repo: string; tag: string }>;
};
const source = new DistributionClient(job.source);
const target = new DistributionClient(job.target);
const started = performance.now();
// BLOBS / ARTIFACTS override the concurrency, for exploring it (defaults: the product's).
const prewarmer = new Prewarmer({
  log: (line) => console.error(line),
  ...(process.env.BLOBS ? { blobConcurrency: Number(process.env.BLOBS) } : {}),
  ...(process.env.ARTIFACTS ? { artifactConcurrency: Number(process.env.ARTIFACTS) } : {}),
});
const items = job.refs.map((r) => ({
  label: `${r.repo}:${r.tag}`,
  source,
  sourceRepo: r.repo,
  ref: r.tag,
  target,
  targetRepo: `${job.prefix}/${r.repo}`,
}));
const report = await prewarmer.run(items);
const missing = await prewarmer.verify(items, report);
if (missing.length) throw new Error(`incomplete: ${missing.join('; ')}`);
// VmHWM, not getrusage: ru_maxrss survives exec on Linux and would report the parent's peak at fork.
const hwm = Number(/VmHWM:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'))?.[1] ?? 0) / 1024;
console.log(
  JSON.stringify({
    seconds: (performance.now() - started) / 1000,
    bytes: report.bytesCopied,
    mounted: report.blobsMounted,
    maxRssMB: hwm,
    cpuSeconds: (process.cpuUsage().user + process.cpuUsage().system) / 1e6,
  }),
);
