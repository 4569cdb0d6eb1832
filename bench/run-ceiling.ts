// Child process of the prewarm benchmark: the streaming ceiling — every unique blob streamed
// GET → PUT between the same two registries with plain concurrent requests, no manifests.
const job = JSON.parse(process.argv[2] ?? '{}') as { source: string; target: string; concurrency: number; blobs: Array<{ repo: string; digest: string }> };
const started = performance.now();
let bytes = 0;
const queue = [...job.blobs];
await Promise.all(
  Array.from({ length: job.concurrency }, async () => {
    for (let b = queue.shift(); b; b = queue.shift()) {
      const get = await fetch(`${job.source}/v2/${b.repo}/blobs/${b.digest}`);
      const start = await fetch(`${job.target}/v2/ceiling/${b.repo}/blobs/uploads/`, { method: 'POST' });
      const location = new URL(start.headers.get('location') ?? '', job.target);
      location.searchParams.set('digest', b.digest);
      const size = get.headers.get('content-length') ?? '0';
      const put = await fetch(location, { method: 'PUT', body: get.body, duplex: 'half', headers: { 'content-type': 'application/octet-stream', 'content-length': size } } as RequestInit);
      if (put.status !== 201) throw new Error(`PUT ${b.digest}: ${put.status}`);
      bytes += Number(size);
    }
  }),
);
console.log(JSON.stringify({ seconds: (performance.now() - started) / 1000, bytes, maxRssMB: process.resourceUsage().maxRSS / 1024 }));
