// 03 harbor-prewarm: every artifact the Sovereign pulls from upstream today is in the local
// Harbor — every platform of an index, every blob, the same digest. Mirror-mode hosts are copied
// by the streaming prewarmer (src/prewarm); proxy-mode hosts are pulled through their proxy-cache
// project (streamed, checked by digest, retried like the copy). Any miss fails the step while
// egress is still open; a tether to a host the table does not map fails it before anything.
import { BlobPump } from '../adapters/oci/blob-pump.ts';
import { pullThrough, type Retry } from '../adapters/oci/copier.ts';
import { presentByDigest } from '../adapters/oci/completeness.ts';
import { DEFAULT_ATTEMPTS, withRetries } from '../core/retry.ts';
import { forEachLimited } from '../core/limit.ts';
import { Prewarmer, type PrewarmItem, type PrewarmProgress, type PrewarmReport } from '../prewarm/prewarm.ts';
import { CutoverError, PeerError } from '../core/errors.ts';
import type { Change, Step, StepContext } from '../core/step.ts';
import { collectArtifacts, type MappedArtifact } from '../inventory/artifacts.ts';
import { formatImageRef, reference } from '../core/image-ref.ts';
import type { StepEnv } from './env.ts';

type Ctx = StepContext<StepEnv>;
const PARALLEL_ARTIFACTS = 4;

/** Every artifact in use, mapped to its local project; a reference to an unmapped host fails. */
export async function inventory(ctx: Ctx): Promise<MappedArtifact[]> {
  const { mapped, unmapped } = await collectArtifacts(ctx.env.cluster, ctx.values);
  if (unmapped.length) {
    const list = unmapped.map((a) => `${formatImageRef(a.ref)} (${a.foundIn[0]})`).join(', ');
    throw new CutoverError(
      'unmapped-host',
      `these references point at hosts harbor.hostProjects does not map, so nothing would serve them after the pivot: ${list}`,
    );
  }
  return mapped;
}

async function plan(ctx: Ctx): Promise<Change[]> {
  const c = ctx.env.registries;
  const changes: Change[] = [];
  // A project step 02 has not made yet answers 401/404: nothing is there yet, which is what the plan says.
  const absent = (error: unknown) => {
    if (error instanceof PeerError && (error.status === 401 || error.status === 404)) return undefined;
    throw error;
  };
  for (const a of await inventory(ctx)) {
    const upstream = await c.upstream(a.row).headManifest(a.ref.path, reference(a.ref)).catch(absent);
    const present = upstream
      ? await presentByDigest(c.local, a.localRepo, reference(a.ref), upstream.digest).catch(absent)
      : false;
    if (!present)
      changes.push({
        action: a.row.mode === 'mirror' ? 'copy' : 'pull',
        target: `${a.kind} ${formatImageRef(a.ref)}`,
        detail: `→ ${a.localRepo}:${reference(a.ref)}`,
      });
  }
  return changes;
}

/** Mirror-mode artifacts as prewarm items: upstream repository → `<project>/<path>` in the local Harbor. */
function mirrorItems(ctx: Ctx, c: StepEnv['registries'], artifacts: MappedArtifact[]): PrewarmItem[] {
  return artifacts
    .filter((a) => a.row.mode === 'mirror')
    .map((a) => ({
      label: formatImageRef(a.ref),
      source: c.upstream(a.row),
      sourceRepo: a.ref.path,
      ref: reference(a.ref),
      target: c.local,
      targetRepo: a.localRepo,
    }));
}

/**
 * Copies every mirror-mode artifact (and pulls every proxy-mode one through its cache), then
 * checks each by digest. `onProgress` sees the copy as it goes (the CLI draws a bar from it).
 */
export async function prewarmAll(ctx: Ctx, onProgress?: (p: PrewarmProgress) => void): Promise<PrewarmReport> {
  return await prewarmArtifacts(ctx, await inventory(ctx), onProgress);
}

/** Copies (or pulls through) these artifacts and checks each by digest: step 03, and the pin radar's intake. */
export async function prewarmArtifacts(
  ctx: Ctx,
  artifacts: MappedArtifact[],
  onProgress?: (p: PrewarmProgress) => void,
): Promise<PrewarmReport> {
  const c = ctx.env.registries;
  const items = mirrorItems(ctx, c, artifacts);
  const proxied = artifacts.filter((a) => a.row.mode === 'proxy');
  ctx.log(
    `${artifacts.length} artifacts to have locally (${items.length} copied into mirror projects, ${proxied.length} pulled through proxy caches)`,
  );
  const prewarmer = new Prewarmer({ signal: ctx.signal, log: ctx.log, ...(onProgress ? { onProgress } : {}) });
  const report = await prewarmer.run(items);
  const fresh = report.artifacts.filter((a) => !a.present).length;
  ctx.log(
    `copied ${fresh} artifacts (${report.artifacts.length - fresh} already complete): ${report.blobsCopied} blobs / ${(report.bytesCopied / 1e6).toFixed(1)} MB streamed, ${report.blobsMounted} mounted, ${report.blobsPresent} present, ${report.retries} retries, ${report.seconds.toFixed(1)} s`,
  );
  // Proxy-mode hosts: read everything through the proxy-cache project, which fills itself.
  const pump = new BlobPump();
  const retry: Retry = (what, work) =>
    withRetries(what, work, { attempts: DEFAULT_ATTEMPTS, signal: ctx.signal, log: ctx.log });
  const notCached: string[] = [];
  try {
    await forEachLimited(proxied, PARALLEL_ARTIFACTS, async (a) => {
      const digest = await pullThrough(c.local, a.localRepo, reference(a.ref), pump, retry, ctx.signal);
      if (!(await presentByDigest(c.local, a.localRepo, reference(a.ref), digest)))
        notCached.push(`${formatImageRef(a.ref)}: ${a.localRepo}:${reference(a.ref)} is not ${digest} after the pull`);
      ctx.log(`pulled ${formatImageRef(a.ref)} through ${a.localRepo}`);
    });
  } finally {
    await pump.close();
  }
  const missing = [...(await prewarmer.verify(items, report)), ...notCached];
  if (missing.length) throw incomplete(missing, '; ');
  return report;
}

/** `12/29 artifacts · 340.2 MB · 40 blobs copied, 21 mounted` — what the console shows under the step. */
export function progressText(p: PrewarmProgress): string {
  return `${p.artifactsDone}/${p.artifactsTotal} artifacts · ${(p.bytesCopied / 1e6).toFixed(1)} MB · ${p.blobsCopied} blobs copied, ${p.blobsMounted} mounted, ${p.blobsPresent} present${p.retries ? ` · ${p.retries} retries` : ''}`;
}

async function apply(ctx: Ctx): Promise<void> {
  // Progress for the console: at most every 2 s into the status ConfigMap (best effort; the copy never waits on it).
  const store = ctx.env.status;
  const key = 'step.harbor-prewarm.progress';
  let last = 0;
  const report = (p: PrewarmProgress, force = false) => {
    if (!force && Date.now() - last < 2000) return;
    last = Date.now();
    void store.patch({ [key]: progressText(p) }).catch(() => undefined);
  };
  const done = await prewarmAll(ctx, report);
  report(done, true);
}

async function verify(ctx: Ctx): Promise<void> {
  const c = ctx.env.registries;
  const missing: string[] = [];
  for (const a of await inventory(ctx)) {
    const upstream = await c.upstream(a.row).headManifest(a.ref.path, reference(a.ref));
    if (!upstream) {
      missing.push(`${formatImageRef(a.ref)} (not found upstream either)`);
      continue;
    }
    if (!(await presentByDigest(c.local, a.localRepo, reference(a.ref), upstream.digest)))
      missing.push(`${formatImageRef(a.ref)} → ${a.localRepo}@${upstream.digest}`);
  }
  if (missing.length) throw incomplete(missing, ', ');
}

function incomplete(missing: string[], separator: string): CutoverError {
  return new CutoverError(
    'prewarm-incomplete',
    `${missing.length} artifact(s) are not complete in the local Harbor: ${missing.join(separator)}`,
  );
}

export const harborPrewarm: Step<StepEnv> = {
  id: 'harbor-prewarm',
  timeoutKey: 'harborPrewarmSeconds',
  plan,
  apply,
  verify,
};
