// Pushes the corpus into the upstream registries, idempotently: a record of what was pushed
// (top-level digests) is checked against the registries first, and only a miss regenerates.
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { DistributionClient } from '../../src/adapters/oci/distribution-client.ts';
import { artifactTag, CorpusGenerator, topManifest, type BuiltArtifact } from './generate.ts';
import { corpusSpec, type CorpusSize, type UpstreamName } from './spec.ts';

export interface SeededArtifact {
  upstream: UpstreamName;
  repo: string;
  tag: string;
  kind: 'image' | 'chart';
  digest: string;
  mediaType: string;
  platforms: number;
}

export async function seedCorpus(
  size: CorpusSize,
  registries: Record<UpstreamName, string>,
  recordFile: string,
  log: (line: string) => void,
): Promise<SeededArtifact[]> {
  const clients = Object.fromEntries(
    Object.entries(registries).map(([k, url]) => [k, new DistributionClient(url)]),
  ) as Record<UpstreamName, DistributionClient>;
  const specs = corpusSpec(size);
  const fingerprint = createHash('sha256').update(JSON.stringify(specs)).digest('hex');
  if (existsSync(recordFile)) {
    const saved = JSON.parse(readFileSync(recordFile, 'utf8')) as { fingerprint: string; artifacts: SeededArtifact[] };
    const record = saved.fingerprint === fingerprint ? saved.artifacts : [];
    const present = await Promise.all(
      record.map(async (a) => (await clients[a.upstream].headManifest(a.repo, a.tag))?.digest === a.digest),
    );
    if (record.length && present.every(Boolean)) {
      log(`  corpus (${size}): ${record.length} artifacts already in the upstream registries`);
      return record;
    }
  }
  const generator = new CorpusGenerator();
  const seeded: SeededArtifact[] = [];
  let bytes = 0;
  for (const spec of specs) {
    const built = generator.build(spec);
    bytes += await pushArtifact(clients[spec.upstream], built);
    const top = topManifest(built);
    seeded.push({
      upstream: spec.upstream,
      repo: spec.repo,
      tag: artifactTag(spec),
      kind: spec.kind,
      digest: top.digest,
      mediaType: top.mediaType,
      platforms: spec.kind === 'image' ? spec.platforms.length : 1,
    });
    log(`  corpus (${size}): ${spec.upstream}/${spec.repo}:${artifactTag(spec)} ${top.digest.slice(0, 19)}…`);
  }
  writeFileSync(recordFile, JSON.stringify({ fingerprint, artifacts: seeded }, null, 2));
  log(`  corpus (${size}): ${seeded.length} artifacts, ${(bytes / 1e6).toFixed(1)} MB pushed`);
  return seeded;
}

export async function pushArtifact(client: DistributionClient, built: BuiltArtifact): Promise<number> {
  let bytes = 0;
  for (const blob of built.blobs) {
    if ((await client.pushBlob(built.spec.repo, blob.digest, blob.data)) === 'pushed') bytes += blob.data.byteLength;
  }
  const top = topManifest(built);
  for (const m of built.manifests) {
    await client.putManifest(built.spec.repo, m === top ? artifactTag(built.spec) : m.digest, m.mediaType, m.bytes);
  }
  return bytes;
}
