// Prewarm: copies artifacts (every platform of an index, every blob) from upstream registries into
// the local one by digest, fast and resumable.
// - Concurrency across artifacts (manifests) and across blobs, each bounded; every byte of a blob
//   streams GET → PUT (memory does not grow with blob size) in a worker of its own (blob-pump.ts);
//   the destination registry checks each blob against its digest before it accepts it.
// - A blob is copied once per run: the first repository that needs it gets the bytes, every
//   other repository mounts it (cross-repository mount, no bytes move); blobs and manifests already
//   present are skipped, and a tag is written only after everything under it — so a killed run
//   leaves nothing half-visible and the next run carries on where it stopped.
// - Transient failures (5xx, 429, resets, timeouts) are retried with backoff; anything else fails
//   the artifact. At the end every artifact is verified by digest.
import { DEFAULT_ATTEMPTS, withRetries } from '../core/retry.ts';
import { forEachLimited, Limit } from '../core/limit.ts';
import { BlobPump } from '../adapters/oci/blob-pump.ts';
import { pumpRenewingTokens, type Retry } from '../adapters/oci/copier.ts';
import { checkByDigest } from '../adapters/oci/completeness.ts';
import type { DistributionClient, FetchedManifest } from '../adapters/oci/distribution-client.ts';
import { isIndex, type ImageIndex, type ImageManifest } from '../adapters/oci/media-types.ts';

export interface PrewarmItem {
  /** What the operator calls it, e.g. `ghcr.io/fluxcd/source-controller:v1.4.1`. */
  label: string;
  source: DistributionClient;
  sourceRepo: string;
  /** Tag or digest. */
  ref: string;
  target: DistributionClient;
  targetRepo: string;
}

export interface PrewarmProgress {
  artifactsDone: number;
  artifactsTotal: number;
  bytesCopied: number;
  blobsCopied: number;
  blobsMounted: number;
  blobsPresent: number;
  retries: number;
}

export interface ArtifactResult {
  label: string;
  digest: string;
  /** The digests of an index's platform manifests (none for a single manifest). */
  platforms: string[];
  /** Already complete in the target before this run. */
  present: boolean;
}

export interface PrewarmReport extends PrewarmProgress {
  artifacts: ArtifactResult[];
  seconds: number;
}

export interface PrewarmOptions {
  /** Artifacts whose manifests are worked on at once (default 16). */
  artifactConcurrency?: number;
  /** Blob transfers at once — the bound on streaming connections (default 8). */
  blobConcurrency?: number;
  /** Attempts per request for transient failures (default 6). */
  attempts?: number;
  signal?: AbortSignal;
  onProgress?: (progress: PrewarmProgress) => void;
  log?: (line: string) => void;
}

interface Descriptor {
  digest: string;
  size: number;
}

export class Prewarmer {
  readonly #o: Required<Pick<PrewarmOptions, 'artifactConcurrency' | 'blobConcurrency' | 'attempts'>> & PrewarmOptions;
  readonly #blobs: Limit;
  readonly #progress: PrewarmProgress = {
    artifactsDone: 0,
    artifactsTotal: 0,
    bytesCopied: 0,
    blobsCopied: 0,
    blobsMounted: 0,
    blobsPresent: 0,
    retries: 0,
  };
  /** target repo + digest → the blob is there (once settled). */
  readonly #ensured = new Map<string, Promise<void>>();
  /** digest → a repository of the target that has it (to mount from). */
  readonly #located = new Map<string, string>();
  /** digest → the copy of its bytes in flight, resolving to the repository it lands in. */
  readonly #copying = new Map<string, Promise<string>>();
  /** Blob bytes stream in a worker of their own (see blob-pump.ts); one per run. */
  #pump: BlobPump | undefined;

  constructor(options: PrewarmOptions = {}) {
    this.#o = { artifactConcurrency: 16, blobConcurrency: 8, attempts: DEFAULT_ATTEMPTS, ...options };
    this.#blobs = new Limit(this.#o.blobConcurrency);
  }

  async run(items: PrewarmItem[]): Promise<PrewarmReport> {
    const started = performance.now();
    this.#progress.artifactsTotal = items.length;
    const results: ArtifactResult[] = new Array<ArtifactResult>(items.length);
    this.#pump = new BlobPump();
    try {
      // A failed run stops taking work; what runs finishes before the pump closes.
      await forEachLimited(items, this.#o.artifactConcurrency, async (item, i) => {
        results[i] = await this.#artifact(item);
        this.#progress.artifactsDone++;
        this.#report();
      });
    } finally {
      await this.#pump.close();
      this.#pump = undefined;
    }
    return { ...this.#progress, artifacts: results, seconds: (performance.now() - started) / 1000 };
  }

  #report(): void {
    this.#o.onProgress?.({ ...this.#progress });
  }

  /** #retry as a value, for the helpers that take a Retry. */
  readonly #retrying: Retry = (what, work) => this.#retry(what, work);

  /** Retries transient failures with backoff (core/retry.ts), counted in the progress. */
  #retry<T>(what: string, work: () => Promise<T>): Promise<T> {
    return withRetries(what, work, {
      attempts: this.#o.attempts,
      signal: this.#o.signal,
      log: this.#o.log,
      onRetry: () => this.#progress.retries++,
    });
  }

  async #artifact(item: PrewarmItem): Promise<ArtifactResult> {
    const { source, sourceRepo, ref, target, targetRepo } = item;
    const top = await this.#retry(`manifest ${item.label}`, () => source.getManifest(sourceRepo, ref));
    const children = isIndex(top.mediaType)
      ? (JSON.parse(Buffer.from(top.bytes).toString('utf8')) as ImageIndex).manifests
      : [];
    const platforms = children.map((c) => c.digest);
    if ((await checkByDigest(target, targetRepo, ref, top.digest, { platforms, retry: this.#retrying })).complete) {
      return { label: item.label, digest: top.digest, platforms, present: true };
    }
    if (children.length) {
      await Promise.all(
        children.map(async (child) => {
          const present = await this.#retry(`HEAD ${targetRepo}@${child.digest}`, () =>
            target.headManifest(targetRepo, child.digest),
          );
          if (present?.digest === child.digest) return;
          const manifest = await this.#retry(`manifest ${item.label}@${child.digest}`, () =>
            source.getManifest(sourceRepo, child.digest),
          );
          await this.#blobsOf(item, manifest);
          await this.#retry(`PUT ${targetRepo}@${child.digest}`, () =>
            target.putManifest(targetRepo, child.digest, manifest.mediaType, manifest.bytes),
          );
        }),
      );
    } else {
      await this.#blobsOf(item, top);
    }
    // The tag last: a reader never sees it before everything it names.
    await this.#retry(`PUT ${targetRepo}:${ref}`, () => target.putManifest(targetRepo, ref, top.mediaType, top.bytes));
    return { label: item.label, digest: top.digest, platforms, present: false };
  }

  async #blobsOf(item: PrewarmItem, manifest: FetchedManifest): Promise<void> {
    const parsed = JSON.parse(Buffer.from(manifest.bytes).toString('utf8')) as ImageManifest;
    const blobs: Descriptor[] = [parsed.config, ...(parsed.layers ?? [])].filter((b) => Boolean(b?.digest));
    await Promise.all(blobs.map((b) => this.#ensureBlob(item, b)));
  }

  #ensureBlob(item: PrewarmItem, blob: Descriptor): Promise<void> {
    const key = `${item.targetRepo}@${blob.digest}`;
    let done = this.#ensured.get(key);
    if (!done) {
      done = this.#placeBlob(item, blob);
      this.#ensured.set(key, done);
      // A failure is not remembered: a retry of the artifact tries again.
      done.catch(() => this.#ensured.delete(key));
    }
    return done;
  }

  /**
   * One POST decides it: a mount from a repository of the target known to hold the blob (or from
   * this repository itself — a blob a killed run already put here) answers 201 and no byte moves;
   * otherwise the registry opens an upload session, and the bytes stream into it.
   */
  async #placeBlob(item: PrewarmItem, blob: Descriptor): Promise<void> {
    const { target, targetRepo } = item;
    const known = this.#located.get(blob.digest);
    const inFlight = this.#copying.get(blob.digest);
    if (!known && !inFlight) {
      // The first repository to need these bytes: already here, or it gets the copy.
      const placed = (async () => {
        const upload = await this.#retry(`upload ${targetRepo}@${blob.digest}`, () =>
          target.startUpload(targetRepo, { digest: blob.digest, fromRepo: targetRepo }),
        );
        if (upload.mounted) this.#progress.blobsPresent++;
        else await this.#copy(item, blob, upload.location);
        return targetRepo;
      })();
      this.#copying.set(blob.digest, placed);
      try {
        this.#located.set(blob.digest, (await placed) as string);
      } finally {
        this.#copying.delete(blob.digest);
      }
      return;
    }
    const from = known ?? (await inFlight?.catch(() => undefined)) ?? targetRepo;
    const upload = await this.#retry(`mount ${blob.digest} → ${targetRepo}`, () =>
      target.startUpload(targetRepo, { digest: blob.digest, fromRepo: from }),
    );
    if (upload.mounted) {
      if (from === targetRepo) this.#progress.blobsPresent++;
      else this.#progress.blobsMounted++;
      this.#report();
      return;
    }
    await this.#copy(item, blob, upload.location);
  }

  /** Streams one blob from the source into the target through the pump (a fresh upload per attempt). */
  async #copy(item: PrewarmItem, blob: Descriptor, firstLocation?: string): Promise<void> {
    const { source, sourceRepo, target, targetRepo } = item;
    const pump = this.#pump;
    if (!pump) throw new Error('a blob copy outside run()');
    let location = firstLocation;
    await this.#blobs.run(
      () =>
        this.#retry(`copy ${sourceRepo}@${blob.digest}`, async () => {
          const upload: string =
            location ?? (await target.startUpload(targetRepo).then((u) => (u.mounted ? '' : u.location)));
          location = undefined; // an upload session is single-use
          if (upload) {
            const transfer = async () => ({
              get: await source.blobRead(sourceRepo, blob.digest),
              put: await target.uploadClose(targetRepo, upload, blob.digest),
              digest: blob.digest,
              size: blob.size,
            });
            const bytes = await pumpRenewingTokens(pump, transfer, [source, target], this.#o.signal);
            this.#progress.bytesCopied += bytes;
            this.#progress.blobsCopied++;
          }
          this.#located.set(blob.digest, targetRepo);
          this.#report();
        }),
      // Largest first: a big layer started last would stream alone at the end.
      blob.size,
    );
  }

  /** Every item's tag resolves to its source digest with every platform present (the final check; `report` of run(items)). */
  async verify(items: PrewarmItem[], report: PrewarmReport): Promise<string[]> {
    const missing: string[] = [];
    await forEachLimited(items, this.#o.artifactConcurrency, async (item, i) => {
      const result = report.artifacts[i];
      if (!result) return void missing.push(`${item.label}: never copied`);
      // Found complete by digest during this run (tag and every platform): already verified.
      if (result.present) return;
      // The tag's digest pins the index's bytes, so its platforms are the ones the run copied.
      const check = await checkByDigest(item.target, item.targetRepo, item.ref, result.digest, {
        platforms: result.platforms,
        retry: this.#retrying,
      });
      if (check.found !== result.digest)
        return void missing.push(
          `${item.label}: ${item.targetRepo}:${item.ref} is ${check.found ?? 'absent'}, expected ${result.digest}`,
        );
      for (const p of check.absentPlatforms) missing.push(`${item.label}: platform manifest ${p} absent`);
    });
    return missing;
  }
}

/** One artifact, by digest with every platform: the prewarmer for a single copy. */
export async function copyArtifact(
  source: DistributionClient,
  sourceRepo: string,
  ref: string,
  target: DistributionClient,
  targetRepo: string,
): Promise<ArtifactResult> {
  const report = await new Prewarmer().run([
    { label: `${sourceRepo}:${ref}`, source, sourceRepo, ref, target, targetRepo },
  ]);
  return report.artifacts[0] as ArtifactResult;
}
