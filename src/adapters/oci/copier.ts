// Copies one artifact between registries by digest: an index with every platform manifest, or a
// single manifest, with every blob — blobs and manifests already present are skipped, and the
// top-level reference (tag) is written last so a reader never sees a tag without its content.
import type { DistributionClient } from './distribution-client.ts';
import { isIndex, type ImageIndex, type ImageManifest } from './media-types.ts';

export interface CopyResult {
  digest: string;
  mediaType: string;
  manifests: number;
  blobsCopied: number;
  blobsPresent: number;
}

export async function copyArtifact(src: DistributionClient, srcRepo: string, ref: string, dst: DistributionClient, dstRepo: string): Promise<CopyResult> {
  const top = await src.getManifest(srcRepo, ref);
  const result: CopyResult = { digest: top.digest, mediaType: top.mediaType, manifests: 1, blobsCopied: 0, blobsPresent: 0 };
  const copyManifest = async (bytes: Uint8Array, mediaType: string, target: string): Promise<void> => {
    const manifest = JSON.parse(Buffer.from(bytes).toString('utf8')) as ImageManifest;
    for (const blob of [manifest.config, ...(manifest.layers ?? [])].filter(Boolean)) {
      if (await dst.hasBlob(dstRepo, blob.digest)) {
        result.blobsPresent++;
        continue;
      }
      await dst.pushBlob(dstRepo, blob.digest, await src.getBlob(srcRepo, blob.digest));
      result.blobsCopied++;
    }
    // putManifest checks the registry's Docker-Content-Digest against the bytes' digest.
    await dst.putManifest(dstRepo, target, mediaType, bytes);
  };
  if (isIndex(top.mediaType)) {
    const index = JSON.parse(Buffer.from(top.bytes).toString('utf8')) as ImageIndex;
    for (const child of index.manifests) {
      result.manifests++;
      const present = await dst.headManifest(dstRepo, child.digest);
      if (present?.digest === child.digest) continue;
      const m = await src.getManifest(srcRepo, child.digest);
      await copyManifest(m.bytes, m.mediaType, m.digest);
    }
    await dst.putManifest(dstRepo, ref, top.mediaType, top.bytes);
  } else {
    await copyManifest(top.bytes, top.mediaType, ref);
  }
  return result;
}

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
