// Reading artifacts through a registry, and moving one blob through the blob pump with token
// renewal (shared with the prewarmer's copy, src/prewarm). Presence by digest: completeness.ts.
import { PeerError } from '../../core/errors.ts';
import type { BlobPump, BlobTransfer } from './blob-pump.ts';
import type { DistributionClient } from './distribution-client.ts';
import { isIndex, type ImageIndex, type ImageManifest } from './media-types.ts';

export type Retry = <T>(what: string, work: () => Promise<T>) => Promise<T>;

/**
 * Reads an artifact completely through a registry — a proxy cache fills itself doing so: every
 * platform of an index, every blob streamed through `pump` (memory does not grow with its size)
 * and checked against its digest. Returns the artifact's digest. `signal` cuts a stream in flight.
 */
export async function pullThrough(
  client: DistributionClient,
  repo: string,
  ref: string,
  pump: BlobPump,
  retry: Retry,
  signal?: AbortSignal,
): Promise<string> {
  const top = await retry(`manifest ${repo}:${ref}`, () => client.getManifest(repo, ref));
  const manifests = isIndex(top.mediaType)
    ? await Promise.all(
        (JSON.parse(Buffer.from(top.bytes).toString()) as ImageIndex).manifests.map((m) =>
          retry(`manifest ${repo}@${m.digest}`, () => client.getManifest(repo, m.digest)),
        ),
      )
    : [top];
  const blobs = new Map<string, number>();
  for (const m of manifests) {
    const manifest = JSON.parse(Buffer.from(m.bytes).toString()) as ImageManifest;
    for (const blob of [manifest.config, ...(manifest.layers ?? [])])
      if (blob?.digest) blobs.set(blob.digest, blob.size);
  }
  for (const [digest, size] of blobs) {
    await retry(`blob ${repo}@${digest}`, () =>
      pumpRenewingTokens(
        pump,
        async () => ({ get: await client.blobRead(repo, digest), digest, size }),
        [client],
        signal,
      ),
    );
  }
  return top.digest;
}

/**
 * One blob through the pump. Registries issue tokens for minutes and a long run outlives them: a
 * 401 renews the clients' tokens once and the transfer is built again (same upload session).
 */
export async function pumpRenewingTokens(
  pump: BlobPump,
  transfer: () => Promise<BlobTransfer>,
  clients: DistributionClient[],
  signal?: AbortSignal,
): Promise<number> {
  try {
    return await pump.copy(await transfer(), signal);
  } catch (error) {
    if (!(error instanceof PeerError && error.status === 401)) throw error;
    for (const client of clients) client.forgetTokens();
    return await pump.copy(await transfer(), signal);
  }
}
