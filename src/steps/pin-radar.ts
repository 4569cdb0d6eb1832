// The pin radar and its intake (issue 15 §1–3, ADR 0017): after the cutover, the artifacts a revision
// of the Gitea mirror pins are read from its manifests (inventory/git-pins.ts) and from the default
// values of the charts it pins (inventory/chart-images.ts), with those the cluster runs now (the
// tether inventory's artifacts), and, where the local Harbor lacks one, copied in while
// upstream answers — by digest, every platform, with step 03's prewarmer. What cannot be had is
// reported with the reason, per pin. Not a step of the chain: the serving process runs it, under the
// Lease, when the mirror's head moves and every `intake.periodSeconds`.
import type { Artifact, MappedArtifact } from '../inventory/artifacts.ts';
import { collectArtifacts, mapArtifacts } from '../inventory/artifacts.ts';
import { manifestObjects, pinsOf, type GitManifest, type GitPin } from '../inventory/git-pins.ts';
import { chartImages } from '../inventory/chart-images.ts';
import { HELM_CHART_LAYER } from '../adapters/oci/media-types.ts';
import { upstreamHosts } from '../inventory/upstream-hosts.ts';
import { forEachLimited } from '../core/limit.ts';
import { formatImageRef, parseImageRef, reference } from '../core/image-ref.ts';
import { CutoverError, redact } from '../core/errors.ts';
import type { PendingPin, PinReport } from '../core/pin-status.ts';
import { AWAITING_APPROVAL } from '../core/intake-window.ts';
import type { StepContext } from '../core/step.ts';
import { prewarmArtifacts } from './harbor-prewarm.ts';
import { getFlux, listFlux, patchFlux } from '../adapters/kube/flux.ts';
import { HOLD_STEP } from '../core/contracts.ts';
import { fluxNamespaces } from '../core/values.ts';
import { sameRepoURL } from '../core/repo-url.ts';
import { pivotDurably, placeEntries, type Pivot } from './durable-pivot.ts';
import { helmRepositoryPatches, KINDS, pivotOf, targetOf } from './helmrepository-patches.ts';
import { KUSTOMIZATIONS, listOwners, type FluxOwner } from '../adapters/kube/flux-owners.ts';
import { gitRepositoryObject, localRepoURL } from './flux-gitrepository-patch.ts';
import type { StepEnv } from './env.ts';

type Ctx = StepContext<StepEnv>;

/** Manifests bigger than this are no manifests the radar reads. */
const MAX_FILE_BYTES = 1 << 20;
const MAX_FILES = 5000;

/**
 * Holds every GitRepository that follows the mirror at `revision` (ADR 0017): `spec.ref.commit`, kept
 * by an entry of the intake's own on its owner (durable-pivot.ts), so Flux applies no revision whose
 * pins the local Harbor cannot serve. Moving the entry to the next verified revision lets Flux on.
 */
async function holdAt(ctx: Ctx, revision: string): Promise<void> {
  const url = localRepoURL(ctx);
  const pivots: Pivot[] = [];
  for (const ns of fluxNamespaces(ctx.values))
    for (const repo of await listFlux(ctx.env.cluster, 'gitrepositories', ns)) {
      if (!sameRepoURL(repo.spec.url, url)) continue;
      const { namespace, name } = repo.metadata;
      pivots.push({
        object: gitRepositoryObject(repo),
        fields: { spec: { ref: { commit: revision } } },
        live: async () => {
          await patchFlux(ctx.env.cluster, 'gitrepositories', namespace, name, { spec: { ref: { commit: revision } } });
        },
        applied: async () =>
          (await getFlux(ctx.env.cluster, 'gitrepositories', namespace, name)).spec.ref?.commit === revision,
      });
    }
  await pivotDurably(ctx.env, HOLD_STEP, pivots, ctx.signal, ctx.log);
}

async function manifestsAt(ctx: Ctx, revision: string): Promise<GitManifest[]> {
  const { forge } = ctx.env;
  const { org, repo } = ctx.values.gitea;
  const files = (await forge.files(org, repo, revision)).filter(
    (f) => /\.ya?ml$/i.test(f.path) && f.size <= MAX_FILE_BYTES,
  );
  if (files.length > MAX_FILES)
    throw new CutoverError(
      'too-many-manifests',
      `revision ${revision} has ${files.length} YAML files (limit ${MAX_FILES})`,
    );
  const manifests: GitManifest[] = [];
  await forEachLimited(files, 8, async (f) => {
    manifests.push({ file: f.path, text: (await forge.blob(org, repo, f.sha)).toString('utf8') });
  });
  return manifests.sort((a, b) => a.file.localeCompare(b.file));
}

/** Present in the local Harbor under the same tag (or digest): nothing to copy, upstream or not. */
async function presentLocally(ctx: Ctx, a: MappedArtifact): Promise<boolean> {
  const found = await ctx.env.registries.local.headManifest(a.localRepo, reference(a.ref));
  return Boolean(found) && (!a.ref.digest || found?.digest === a.ref.digest);
}

/** A Flux source a revision declares, where. */
interface RevisionSource {
  file: string;
  kind: string;
  namespace: string;
  name: string;
  url: string;
}

/** The last revision read, its pins and its Flux sources: a revision never changes, so it is read once. */
let lastRead: { key: string; pins: GitPin[]; sources: RevisionSource[] } | undefined;

async function readRevision(ctx: Ctx, revision: string): Promise<{ pins: GitPin[]; sources: RevisionSource[] }> {
  const key = `${ctx.values.gitea.org}/${ctx.values.gitea.repo}@${revision}`;
  if (lastRead?.key !== key) {
    const manifests = await manifestsAt(ctx, revision);
    const sources = manifestObjects(manifests).flatMap(({ file, object }): RevisionSource[] => {
      const meta = (object.metadata ?? {}) as { namespace?: unknown; name?: unknown };
      const url = (object.spec as { url?: unknown } | undefined)?.url;
      return KINDS.some((k) => k.kind === object.kind) && typeof url === 'string' && typeof meta.name === 'string'
        ? [
            {
              file,
              kind: String(object.kind),
              namespace: typeof meta.namespace === 'string' ? meta.namespace : '',
              name: meta.name,
              url,
            },
          ]
        : [];
    });
    lastRead = { key, pins: pinsOf(manifests), sources };
  }
  return lastRead;
}

/**
 * Step 06's durable entries for the upstream Flux sources a revision is about to add (ADR 0017), placed
 * on the Kustomization that will apply each — the one following the mirror whose path holds the file
 * (the deepest) — before Flux is let on, so each source is created pointing at the local Harbor and
 * never fetches upstream. Sources that exist already are step 06's (and the guard's) as ever.
 */
async function pivotNewSources(ctx: Ctx, sources: RevisionSource[]): Promise<void> {
  const { cluster } = ctx.env;
  const mirror = localRepoURL(ctx);
  const namespaces = fluxNamespaces(ctx.values);
  const followers: FluxOwner[] = [];
  for (const k of await listOwners(cluster, KUSTOMIZATIONS)) {
    const ref = k.spec.sourceRef;
    if (ref?.kind !== 'GitRepository' || !namespaces.includes(k.metadata.namespace)) continue;
    const repo = await getFlux(cluster, 'gitrepositories', ref.namespace ?? k.metadata.namespace, ref.name).catch(
      () => undefined,
    );
    if (repo && sameRepoURL(repo.spec.url, mirror)) followers.push(k);
  }
  const dir = (k: FluxOwner) => (k.spec.path ?? '').replace(/^\.?\/?/, '').replace(/\/+$/, '');
  const pivots: Pivot[] = [];
  for (const s of sources) {
    const plural = KINDS.find((k) => k.kind === s.kind)?.plural;
    const url = targetOf(ctx, s.url);
    if (!plural || !url || url === s.url) continue;
    const owner = followers
      .filter((k) => !dir(k) || s.file.startsWith(`${dir(k)}/`))
      .sort((a, b) => dir(b).length - dir(a).length)[0];
    const namespace = s.namespace || owner?.spec.targetNamespace || '';
    if (!owner || !namespaces.includes(namespace)) continue;
    if (
      await getFlux(cluster, plural, namespace, s.name).then(
        () => true,
        () => false,
      )
    )
      continue;
    const labels = {
      'kustomize.toolkit.fluxcd.io/name': owner.metadata.name,
      'kustomize.toolkit.fluxcd.io/namespace': owner.metadata.namespace,
    };
    pivots.push(
      pivotOf(ctx, {
        plural,
        kind: s.kind,
        obj: { metadata: { namespace, name: s.name, labels }, spec: { url: s.url } },
        url,
      }),
    );
  }
  if (pivots.length)
    await placeEntries(ctx.env, helmRepositoryPatches.id, pivots, (line) =>
      ctx.log(`intake: ${line} (before Flux creates it)`),
    );
}

/**
 * Reads what `revision` pins, and what runs in the cluster now (a workload applied by hand pins
 * without a Git change), and makes every pin servable from the local Harbor where it can — unless
 * `copy` is false (`request` mode outside a window): then it only says what is missing, and holds.
 * With `clusterImages` (what the Pod watch saw appear) the cluster is not re-listed: only those are
 * looked at beside the revision's pins.
 */
export async function intakePins(
  ctx: Ctx,
  revision: string,
  copy = true,
  clusterImages?: string[],
): Promise<PinReport> {
  const local = upstreamHosts(ctx.values).local;
  const byRef = new Map<string, Artifact>();
  const gitPins = new Set<string>();
  /** Adds a pin (once per reference, every place it was found); returns its key, '' for a local one. */
  const add = (into: Map<string, Artifact>, kind: Artifact['kind'], text: string, foundIn: string): string => {
    const ref = parseImageRef(text);
    if (local.has(ref.host)) return '';
    const key = formatImageRef(ref);
    const entry = byRef.get(key) ?? into.get(key) ?? { kind, ref, foundIn: [] };
    if (!entry.foundIn.includes(foundIn)) entry.foundIn.push(foundIn);
    into.set(key, entry);
    return key;
  };
  const read = await readRevision(ctx, revision);
  for (const pin of read.pins) gitPins.add(add(byRef, pin.kind, pin.ref, pin.foundIn));
  if (clusterImages) for (const image of clusterImages) add(byRef, 'image', image, 'a Pod (seen by the watch)');
  else {
    const running = await collectArtifacts(ctx.env.cluster, ctx.values);
    for (const a of [...running.mapped, ...running.unmapped])
      add(byRef, a.kind, formatImageRef(a.ref), a.foundIn[0] ?? 'the cluster');
  }
  const first = await makeLocal(ctx, byRef.values(), copy);

  // Then the images the revision's charts declare in their default values, read from the local copies.
  const declared = new Map<string, Artifact>();
  const unread = new Set(first.pending.map((p) => p.ref));
  for (const chart of first.mapped) {
    const key = formatImageRef(chart.ref);
    if (chart.kind !== 'chart' || !gitPins.has(key) || unread.has(key)) continue;
    for (const image of await declaredImages(ctx, chart)) {
      // One the first pass had (the cluster runs it) is now pinned by the revision too.
      const known = byRef.has(formatImageRef(parseImageRef(image)));
      gitPins.add(
        add(known ? byRef : declared, 'image', image, `values.yaml of chart ${key} (${chart.foundIn[0] ?? ''})`),
      );
    }
  }
  const second = await makeLocal(ctx, declared.values(), copy);
  for (const [key, a] of declared) byRef.set(key, a);
  const copied = [...first.copied, ...second.copied];
  const pending = [...first.pending, ...second.pending];
  // Flux moves on only when every pin the revision names is local (the cluster's own pins do not hold Git),
  // and in `request` mode only inside an approved window (ADR 0018).
  const verified = copy && !pending.some((p) => gitPins.has(p.ref));
  if (verified) {
    await pivotNewSources(ctx, read.sources);
    await holdAt(ctx, revision);
  }
  return { revision, pins: byRef.size, copied, pending, verified, looked: [...byRef.keys()] };
}

/**
 * Makes each artifact servable from the local Harbor: one already there (same tag, or the pinned
 * digest) is left alone; the others are copied by step 03's prewarmer, or — with `copy` false — only
 * reported missing. What cannot be made local is pending, with why.
 */
async function makeLocal(
  ctx: Ctx,
  artifacts: Iterable<Artifact>,
  copy: boolean,
): Promise<{ mapped: MappedArtifact[]; copied: string[]; pending: PendingPin[] }> {
  const { mapped, unmapped } = mapArtifacts(artifacts, ctx.values.harbor.hostProjects);
  const pending: PendingPin[] = unmapped.map((a) => ({
    ref: formatImageRef(a.ref),
    foundIn: a.foundIn[0] ?? '',
    reason: `host ${a.ref.host} is not in harbor.hostProjects`,
  }));
  const copied: string[] = [];
  for (const a of mapped) {
    const ref = formatImageRef(a.ref);
    try {
      if (await presentLocally(ctx, a)) continue;
      if (!copy) {
        pending.push({ ref, foundIn: a.foundIn[0] ?? '', reason: AWAITING_APPROVAL });
        continue;
      }
      await prewarmArtifacts(ctx, [a]);
      copied.push(ref);
      ctx.log(`intake: ${ref} → ${a.localRepo}:${reference(a.ref)} (pinned by ${a.foundIn[0]})`);
    } catch (error) {
      pending.push({
        ref,
        foundIn: a.foundIn[0] ?? '',
        reason: redact(error instanceof Error ? error.message : String(error)).slice(0, 300),
      });
    }
  }
  return { mapped, copied, pending };
}

/** A chart's declared images by its manifest digest: a chart version never changes, so each is read once. */
const declaredByDigest = new Map<string, string[]>();

/**
 * The images a chart names in its default values (inventory/chart-images.ts), read from its copy in
 * the local Harbor. A chart that cannot be read is logged and declares nothing: its images are then
 * as invisible as images a template assembles.
 */
async function declaredImages(ctx: Ctx, chart: MappedArtifact): Promise<string[]> {
  const local = ctx.env.registries.local;
  try {
    const manifest = await local.getManifest(chart.localRepo, reference(chart.ref));
    const known = declaredByDigest.get(manifest.digest);
    if (known) return known;
    const layers =
      (
        JSON.parse(Buffer.from(manifest.bytes).toString('utf8')) as {
          layers?: Array<{ mediaType: string; digest: string }>;
        }
      ).layers ?? [];
    const content = layers.find((l) => l.mediaType === HELM_CHART_LAYER);
    const images = content ? chartImages(await local.getBlob(chart.localRepo, content.digest)) : [];
    if (declaredByDigest.size > 1000) declaredByDigest.clear();
    declaredByDigest.set(manifest.digest, images);
    return images;
  } catch (error) {
    ctx.log(
      `intake: the values of chart ${formatImageRef(chart.ref)} could not be read: ${redact(error instanceof Error ? error.message : String(error))}`,
    );
    return [];
  }
}
