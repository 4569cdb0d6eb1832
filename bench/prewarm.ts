// `npm run bench -- prewarm [--rounds N] [--corpus bandwidth|fleet]`: the project's prewarmer
// against `skopeo sync --all` (Debian), in the same run, between the same two real registries
// (Debian docker-registry), cold (empty target) and warm (everything already there); for the
// bandwidth corpus also the streaming ceiling. Prints medians and the ratio lines.
// `npm run bench -- memory`: peak RSS of the prewarmer copying a ≈5 GB corpus.
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { ensurePackages } from '../lab/packages.ts';
import { freePort } from '../lab/processes.ts';
import { registryUrl, startRegistry, stopRegistry, type RegistryInstance } from '../lab/registry.ts';
import { REPO_ROOT } from '../lab/topology.ts';
import { DistributionClient } from '../src/adapters/oci/distribution-client.ts';
import { isIndex, type ImageIndex, type ImageManifest } from '../src/adapters/oci/media-types.ts';
import { seed, type CorpusName, type SeededRef } from './corpora.ts';

const CACHE = process.env.SOVEREIGN_BENCH_DIR ?? join(homedir(), '.cache', 'sovereign-cutover', 'bench');
const log = (line: string) => console.log(line);

interface Sample {
  seconds: number;
  bytes?: number;
  maxRssMB?: number;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
}

/** CPU-seconds of a process from /proc: its own, or (children) those of its reaped children. */
function cpuSeconds(pid: number | 'self', children = false): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
  const [user, system] = children ? [fields[13], fields[14]] : [fields[11], fields[12]];
  return (Number(user) + Number(system)) / 100;
}

const registryPid = (r: RegistryInstance): number => Number(readFileSync(join(r.dir, 'registry.pid'), 'utf8').trim());

/** Where the CPU went during one tool run: the tool (a reaped child of ours) and each registry. */
interface CpuSplit {
  tool: number;
  source: number;
  target: number;
}

async function withCpu<T>(
  source: RegistryInstance,
  target: RegistryInstance,
  work: () => Promise<T> | T,
): Promise<[T, CpuSplit]> {
  const before = {
    tool: cpuSeconds('self', true),
    source: cpuSeconds(registryPid(source)),
    target: cpuSeconds(registryPid(target)),
  };
  const result = await work();
  return [
    result,
    {
      tool: cpuSeconds('self', true) - before.tool,
      source: cpuSeconds(registryPid(source)) - before.source,
      target: cpuSeconds(registryPid(target)) - before.target,
    },
  ];
}

function child(script: string, job: unknown): Promise<Sample> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [join(REPO_ROOT, 'bench', script), JSON.stringify(job)], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    p.stdout.on('data', (c: Buffer) => (out += c.toString()));
    p.on('close', (code) =>
      code === 0
        ? resolve(JSON.parse(out.trim().split('\n').at(-1) ?? '{}') as Sample)
        : reject(new Error(`${script} exited ${code}`)),
    );
  });
}

function skopeo(source: string, target: string, refs: SeededRef[]): Sample {
  const dir = join(tmpdir(), `bench-skopeo-${process.pid}`);
  mkdirSync(dir, { recursive: true });
  const images: Record<string, string[]> = {};
  for (const r of refs) (images[r.repo] ??= []).push(r.tag);
  const file = join(dir, 'sync.yaml');
  writeFileSync(file, stringify({ [new URL(source).host]: { 'tls-verify': false, images } }));
  const started = performance.now();
  const r = spawnSync(
    'skopeo',
    [
      'sync',
      '--all',
      '--preserve-digests',
      '--src',
      'yaml',
      '--dest',
      'docker',
      '--dest-tls-verify=false',
      file,
      `${new URL(target).host}/skopeo`,
    ],
    { encoding: 'utf8' },
  );
  const seconds = (performance.now() - started) / 1000;
  if (r.status !== 0) throw new Error(`skopeo sync failed: ${r.stderr.slice(-2000)}`);
  return { seconds };
}

/** Every unique blob of the refs, with a repository that holds it. */
async function uniqueBlobs(
  url: string,
  refs: SeededRef[],
): Promise<Array<{ repo: string; digest: string; size: number }>> {
  const client = new DistributionClient(url);
  const blobs = new Map<string, { repo: string; digest: string; size: number }>();
  for (const r of refs) {
    const top = await client.getManifest(r.repo, r.tag);
    const manifests = isIndex(top.mediaType)
      ? await Promise.all(
          (JSON.parse(Buffer.from(top.bytes).toString()) as ImageIndex).manifests.map((m) =>
            client.getManifest(r.repo, m.digest),
          ),
        )
      : [top];
    for (const m of manifests) {
      const parsed = JSON.parse(Buffer.from(m.bytes).toString()) as ImageManifest;
      for (const b of [parsed.config, ...(parsed.layers ?? [])])
        if (!blobs.has(b.digest)) blobs.set(b.digest, { repo: r.repo, digest: b.digest, size: b.size });
    }
  }
  return [...blobs.values()];
}

class Target {
  readonly instance: RegistryInstance;
  constructor(name: string, port: number) {
    this.instance = { name: `bench-${name}`, port, dir: join(tmpdir(), `bench-target-${name}-${process.pid}`) };
  }
  get url(): string {
    return registryUrl(this.instance);
  }
  /** An empty registry: stopped, storage wiped, started. */
  async fresh(): Promise<void> {
    await stopRegistry(this.instance);
    rmSync(this.instance.dir, { recursive: true, force: true });
    await startRegistry(this.instance);
  }
  async stop(): Promise<void> {
    await stopRegistry(this.instance);
    rmSync(this.instance.dir, { recursive: true, force: true });
  }
}

async function source(
  name: CorpusName,
): Promise<{ url: string; refs: SeededRef[]; instance: RegistryInstance; stop: () => Promise<unknown> }> {
  const instance: RegistryInstance = {
    name: `bench-source-${name}`,
    port: await freePort(),
    dir: join(CACHE, `${name}-source`),
  };
  await startRegistry(instance);
  const refs = await seed(name, registryUrl(instance), join(CACHE, `${name}-seeded.json`), log);
  return { url: registryUrl(instance), refs, instance, stop: () => stopRegistry(instance) };
}

async function benchCorpus(name: 'bandwidth' | 'fleet', rounds: number): Promise<string[]> {
  log(`\n== ${name} corpus`);
  const src = await source(name);
  const target = new Target(name, await freePort());
  const blobs = await uniqueBlobs(src.url, src.refs);
  const uniqueMB = blobs.reduce((n, b) => n + b.size, 0) / 1e6;
  log(`  ${src.refs.length} artifacts, ${blobs.length} unique blobs, ${uniqueMB.toFixed(0)} MB unique`);
  const results: Record<string, number[]> = {
    'skopeo cold': [],
    'skopeo warm': [],
    'project cold': [],
    'project warm': [],
    ceiling: [],
    'project peak RSS MB': [],
  };
  const cpu: Record<'skopeo' | 'project', CpuSplit[]> = { skopeo: [], project: [] };
  try {
    for (let round = 1; round <= rounds; round++) {
      await target.fresh();
      const [skopeoCold, skopeoCpu] = await withCpu(src.instance, target.instance, () =>
        skopeo(src.url, target.url, src.refs),
      );
      results['skopeo cold']!.push(skopeoCold.seconds);
      cpu.skopeo.push(skopeoCpu);
      results['skopeo warm']!.push(skopeo(src.url, target.url, src.refs).seconds);
      await target.fresh();
      const job = { source: src.url, target: target.url, prefix: 'project', refs: src.refs };
      const [cold, projectCpu] = await withCpu(src.instance, target.instance, () => child('run-prewarm.ts', job));
      results['project cold']!.push(cold.seconds);
      cpu.project.push(projectCpu);
      results['project peak RSS MB']!.push(cold.maxRssMB ?? 0);
      results['project warm']!.push((await child('run-prewarm.ts', job)).seconds);
      await target.fresh();
      results.ceiling!.push(
        (await child('run-ceiling.ts', { source: src.url, target: target.url, concurrency: 8, blobs })).seconds,
      );
      log(
        `  round ${round}: ${Object.entries(results)
          .filter(([, v]) => v.length === round)
          .map(([k, v]) => `${k} ${(v.at(-1) as number).toFixed(2)}`)
          .join(' · ')}`,
      );
    }
  } finally {
    await target.stop();
    await src.stop();
  }
  const m = (k: string) => median(results[k] ?? []);
  log(
    `  medians (s): ${Object.keys(results)
      .filter((k) => results[k]?.length)
      .map((k) => `${k} ${m(k).toFixed(2)}`)
      .join(' · ')}`,
  );
  // The machine's share: with every core busy, the registries' CPU alone bounds the wall time.
  const cores = availableParallelism();
  for (const tool of ['skopeo', 'project'] as const) {
    const c = (k: keyof CpuSplit) => median(cpu[tool].map((x) => x[k]));
    const wall = m(`${tool} cold`);
    log(
      `  cold CPU-s (median): ${tool} ${c('tool').toFixed(1)} · source registry ${c('source').toFixed(1)} · target registry ${c('target').toFixed(1)} → ${((c('tool') + c('source') + c('target')) / wall).toFixed(2)} of ${cores} cores busy`,
    );
  }
  const peersAlone = median(cpu.project.map((x) => x.source + x.target)) / cores;
  log(
    `  the registries' own CPU for the project's copy needs ≥ ${peersAlone.toFixed(2)} s on ${cores} cores: no tool sharing this machine can go below ratio ${(peersAlone / m('skopeo cold')).toFixed(2)}`,
  );
  return [
    `${name} cold ratio project/skopeo: ${(m('project cold') / m('skopeo cold')).toFixed(2)}`,
    `${name} warm ratio project/skopeo: ${(m('project warm') / m('skopeo warm')).toFixed(2)}`,
    `${name} project ${(uniqueMB / m('project cold')).toFixed(0)} MB/s = ${((100 * m('ceiling')) / m('project cold')).toFixed(0)}% of the streaming ceiling (${(uniqueMB / m('ceiling')).toFixed(0)} MB/s)`,
  ];
}

async function benchMemory(): Promise<string[]> {
  log('\n== memory corpus (≈5 GB)');
  const src = await source('memory');
  const target = new Target('memory', await freePort());
  try {
    await target.fresh();
    const sample = await child('run-prewarm.ts', {
      source: src.url,
      target: target.url,
      prefix: 'project',
      refs: src.refs,
    });
    return [
      `memory: prewarm of ${((sample.bytes ?? 0) / 1e9).toFixed(2)} GB in ${sample.seconds.toFixed(1)} s, peak RSS ${sample.maxRssMB?.toFixed(0)} MB`,
    ];
  } finally {
    await target.stop();
    await src.stop();
  }
}

export async function benchPrewarm(args: string[]): Promise<void> {
  ensurePackages({ 'docker-registry': 'docker-registry', skopeo: 'skopeo' }, log);
  mkdirSync(CACHE, { recursive: true });
  const rounds = Number(args[args.indexOf('--rounds') + 1] ?? 5) || 5;
  const only = args.includes('--corpus') ? args[args.indexOf('--corpus') + 1] : undefined;
  const lines: string[] = [];
  for (const name of ['bandwidth', 'fleet'] as const)
    if (!only || only === name) lines.push(...(await benchCorpus(name, rounds)));
  log(`\n${lines.join('\n')}`);
}

export async function benchPeakMemory(): Promise<void> {
  ensurePackages({ 'docker-registry': 'docker-registry' }, log);
  mkdirSync(CACHE, { recursive: true });
  log(`\n${(await benchMemory()).join('\n')}`);
}
