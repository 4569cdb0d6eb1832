// The one "complete by digest" check: an artifact is complete in a registry when its tag resolves
// to the expected digest and, for an index, every platform manifest it names is there too. Step 03
// (plan, verify, proxy pulls), the prewarmer (skip and final check) and the inventory's "present
// locally" all ask it here.
import type { Retry } from './copier.ts';
import type { DistributionClient } from './distribution-client.ts';
import { isIndex, type ImageIndex } from './media-types.ts';

/** No retry: each request once. */
const once: Retry = (_what, work) => work();

export interface DigestCheck {
  complete: boolean;
  /** What `ref` resolves to in the registry (undefined: absent). */
  found: string | undefined;
  /** Platform manifests of the index that are absent (checked only when the tag is right). */
  absentPlatforms: string[];
}

/**
 * Checks `repo:ref` against `digest`. `platforms` are the index's platform manifest digests when
 * the caller already knows them (the prewarmer read the index); otherwise an index is read from
 * the registry by its digest to learn them.
 */
export async function checkByDigest(
  client: DistributionClient,
  repo: string,
  ref: string,
  digest: string,
  options: { platforms?: readonly string[]; retry?: Retry | undefined } = {},
): Promise<DigestCheck> {
  const retry = options.retry ?? once;
  const head = await retry(`HEAD ${repo}:${ref}`, () => client.headManifest(repo, ref));
  if (head?.digest !== digest) return { complete: false, found: head?.digest, absentPlatforms: [] };
  const platforms =
    options.platforms ??
    (isIndex(head.mediaType)
      ? (
          JSON.parse(
            Buffer.from(
              (await retry(`manifest ${repo}@${digest}`, () => client.getManifest(repo, digest))).bytes,
            ).toString(),
          ) as ImageIndex
        ).manifests.map((m) => m.digest)
      : []);
  const heads = await Promise.all(platforms.map((p) => retry(`HEAD ${repo}@${p}`, () => client.headManifest(repo, p))));
  const absentPlatforms = platforms.filter((p, i) => heads[i]?.digest !== p);
  return { complete: absentPlatforms.length === 0, found: head.digest, absentPlatforms };
}

/** True when the artifact and, for an index, every platform manifest are present under `ref`. */
export async function presentByDigest(
  client: DistributionClient,
  repo: string,
  ref: string,
  digest: string,
): Promise<boolean> {
  return (await checkByDigest(client, repo, ref, digest)).complete;
}
