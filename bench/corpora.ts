// The benchmark corpora, and seeding them (once, cached by fingerprint) into a source registry.
// bandwidth: the lab's `bench` corpus (≈500 MB unique, large shared bases, multi-arch indexes).
// fleet: 160 images of small layers (0.1–3 MB) over four shared bases — latency-bound, like a platform.
// memory: ≈5 GB in 250 MB layers, for the peak-RSS target.
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { artifactTag, CorpusGenerator, topManifest } from '../lab/corpus/generate.ts';
import { pushArtifact } from '../lab/corpus/seed.ts';
import { corpusSpec, type ArtifactSpec, type ImageSpec } from '../lab/corpus/spec.ts';
import { DistributionClient } from '../src/adapters/oci/distribution-client.ts';

export type CorpusName = 'bandwidth' | 'fleet' | 'memory';

const KB = 1000;
const MB = 1000 * KB;

function fleet(): ArtifactSpec[] {
  const bases = [
    { name: 'fleet-alpine', bytes: 3 * MB },
    { name: 'fleet-distroless', bytes: 2 * MB },
    { name: 'fleet-debian-slim', bytes: 3 * MB },
    { name: 'fleet-busybox', bytes: 800 * KB },
  ];
  const images: ImageSpec[] = [];
  for (let i = 0; i < 160; i++) {
    // Deterministic sizes spread over 0.1–3 MB.
    const size = (n: number) => 100 * KB + ((i * 7919 + n * 104729) % 29) * 100 * KB;
    images.push({
      kind: 'image',
      upstream: 'ghcr',
      repo: `fleet/app-${String(i).padStart(3, '0')}`,
      tag: '1.0.0',
      format: i % 3 ? 'oci' : 'docker',
      platforms: i % 10 === 0 ? ['amd64', 'arm64'] : ['amd64'],
      layers: [
        bases[i % bases.length]!,
        { name: `fleet-${i}-deps`, bytes: size(1) },
        { name: `fleet-${i}-app`, bytes: size(2) },
      ],
    });
  }
  return images;
}

function memory(): ArtifactSpec[] {
  return Array.from({ length: 10 }, (_, i): ImageSpec => ({
    kind: 'image',
    upstream: 'ghcr',
    repo: `big/image-${i}`,
    tag: '1.0.0',
    format: 'oci',
    platforms: ['amd64'],
    layers: [
      { name: `big-${i}-a`, bytes: 250 * MB },
      { name: `big-${i}-b`, bytes: 250 * MB },
    ],
  }));
}

export function corpus(name: CorpusName): ArtifactSpec[] {
  if (name === 'fleet') return fleet();
  if (name === 'memory') return memory();
  return corpusSpec('bench');
}

export interface SeededRef {
  repo: string;
  tag: string;
  digest: string;
}

/** Seeds `specs` into the registry at `url` unless a record with the same fingerprint says they are there. */
export async function seed(
  name: CorpusName,
  url: string,
  recordFile: string,
  log: (line: string) => void,
): Promise<SeededRef[]> {
  const specs = corpus(name);
  const client = new DistributionClient(url);
  const fingerprint = createHash('sha256').update(JSON.stringify(specs)).digest('hex');
  if (existsSync(recordFile)) {
    const saved = JSON.parse(readFileSync(recordFile, 'utf8')) as { fingerprint: string; refs: SeededRef[] };
    if (saved.fingerprint === fingerprint) {
      const present = await Promise.all(
        saved.refs.map(async (r) => (await client.headManifest(r.repo, r.tag))?.digest === r.digest),
      );
      if (present.every(Boolean)) return saved.refs;
    }
  }
  const refs: SeededRef[] = [];
  // One generator per artifact for the memory corpus (its layers are not shared; do not keep 5 GB around).
  let generator = new CorpusGenerator();
  const started = performance.now();
  for (const [i, spec] of specs.entries()) {
    if (name === 'memory') generator = new CorpusGenerator();
    const built = generator.build(spec);
    await pushArtifact(client, built);
    refs.push({ repo: spec.repo, tag: artifactTag(spec), digest: topManifest(built).digest });
    if (i % 20 === 0 || name !== 'fleet')
      log(`  seeding ${name}: ${i + 1}/${specs.length} (${((performance.now() - started) / 1000).toFixed(0)} s)`);
  }
  writeFileSync(recordFile, JSON.stringify({ fingerprint, refs }, null, 2));
  return refs;
}
