// Child process of the prewarm benchmark: the streaming ceiling — every unique blob streamed
// GET → PUT between the same two registries with plain concurrent node:http requests (pipe, keep-
// alive), no manifests, no checks. Prints one JSON line.
import { readFileSync } from 'node:fs';
import { Agent, request, type IncomingMessage } from 'node:http';

const job = JSON.parse(process.argv[2] ?? '{}') as {
  source: string;
  target: string;
  concurrency: number;
  blobs: Array<{ repo: string; digest: string }>;
};
const agent = new Agent({ keepAlive: true });
const send = (method: string, url: URL, headers: Record<string, string>, body?: IncomingMessage) =>
  new Promise<IncomingMessage>((resolve, reject) => {
    const req = request(url, { method, headers, agent }, resolve);
    req.on('error', reject);
    if (body) body.pipe(req);
    else req.end();
  });
const started = performance.now();
let bytes = 0;
const queue = [...job.blobs];
await Promise.all(
  Array.from({ length: job.concurrency }, async () => {
    for (let b = queue.shift(); b; b = queue.shift()) {
      const start = await send('POST', new URL(`${job.target}/v2/ceiling/${b.repo}/blobs/uploads/`), {
        'content-length': '0',
      });
      start.resume();
      const location = new URL(start.headers.location ?? '', job.target);
      location.searchParams.set('digest', b.digest);
      const get = await send('GET', new URL(`${job.source}/v2/${b.repo}/blobs/${b.digest}`), {});
      const size = get.headers['content-length'] ?? '0';
      const put = await send(
        'PUT',
        location,
        { 'content-type': 'application/octet-stream', 'content-length': size },
        get,
      );
      put.resume();
      if (put.statusCode !== 201) throw new Error(`PUT ${b.digest}: ${put.statusCode}`);
      bytes += Number(size);
    }
  }),
);
console.log(
  JSON.stringify({
    seconds: (performance.now() - started) / 1000,
    bytes,
    maxRssMB: Number(/VmHWM:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'))?.[1] ?? 0) / 1024,
  }),
);
