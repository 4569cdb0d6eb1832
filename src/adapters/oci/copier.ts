// Reading artifacts through a registry and checking their presence by digest. (Copying is the
// prewarmer's: src/prewarm.)
import type { DistributionClient } from './distribution-client.ts';
import { isIndex, type ImageIndex, type ImageManifest } from './media-types.ts';

/** Reads an artifact completely through a registry (a proxy cache fills itself doing so). */
export async function pullThrough(client: DistributionClient, repo: string, ref: string): Promise<string> {
  const top = await client.getManifest(repo, ref);
  const manifests = isIndex(top.mediaType)
    ? await Promise.all((JSON.parse(Buffer.from(top.bytes).toString()) as ImageIndex).manifests.map((m) => client.getManifest(repo, m.digest)))
    : [top];
  for (const m of manifests) {
    const manifest = JSON.parse(Buffer.from(m.bytes).toString()) as ImageManifest;
    for (const blob of [manifest.config, ...(manifest.layers ?? [])]) await client.getBlob(repo, blob.digest);
  }
  return top.digest;
}

/** True when the artifact and, for an index, every platform manifest are present under `ref`. */
export async function presentByDigest(client: DistributionClient, repo: string, ref: string, digest: string): Promise<boolean> {
  const head = await client.headManifest(repo, ref);
  if (head?.digest !== digest) return false;
  if (!isIndex(head.mediaType)) return true;
  const index = JSON.parse(Buffer.from((await client.getManifest(repo, digest)).bytes).toString()) as ImageIndex;
  for (const child of index.manifests) if ((await client.headManifest(repo, child.digest))?.digest !== child.digest) return false;
  return true;
}
