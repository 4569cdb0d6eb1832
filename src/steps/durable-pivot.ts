// A pivot that survives GitOps (ADR 0011). An object a Flux Kustomization applies is pivoted by an
// entry in that Kustomization's `spec.patches`; one a HelmRelease renders, by a kustomize
// post-renderer on that HelmRelease (`spec.postRenderers`). Flux's own desired state then carries
// the local value, and every reconcile re-applies it. When Git already defines that list (atomic:
// the parent's next apply would drop our entry), the entry goes one level up, as a JSON6902 `add`
// on the Kustomization that applies the owner. Objects nothing applies are patched live; objects
// with no place for an entry are patched live and kept by the guard. Each entry starts with a
// marker comment naming the step and the object, so a step replaces its own entries and leaves
// every other one alone.
import { isDeepStrictEqual } from 'node:util';
import { stringify } from 'yaml';
import {
  applyOwnerSpec,
  rereadOnConflict,
  getOwner,
  gitDefines,
  HELM_RELEASES,
  KUSTOMIZATIONS,
  listOwners,
  ownerOf,
  requestReconcile,
  type FluxOwner,
  type FluxPatch,
  type ObjectRef,
  type OwnerKind,
} from '../adapters/kube/flux-owners.ts';
import { readyCondition } from '../adapters/kube/flux.ts';
import type { KubeCluster } from '../adapters/kube/cluster.ts';
import { CutoverError } from '../core/errors.ts';
import { journalFields, type Journaling } from './journal.ts';
import { doubling, pollUntil } from '../core/poll.ts';
import type { Change } from '../core/step.ts';

export interface PivotObject extends ObjectRef {
  apiVersion: string;
  kind: string;
  labels: Record<string, string> | undefined;
}

export interface Pivot {
  object: PivotObject;
  /** What to merge into the object (strategic merge: lists of named items merge by name). */
  fields: Record<string, unknown>;
  /** Makes the same change on the live object (what nothing re-applies keeps it). */
  live(): Promise<void>;
  /** Whether the live object carries the change. */
  applied(): Promise<boolean>;
}

export type Durability = 'owner' | 'parent' | 'live' | 'guard-only';

/** A Kustomization or a HelmRelease. */
export interface OwnerRef extends ObjectRef {
  kind: 'Kustomization' | 'HelmRelease';
}

export interface Placement {
  durability: Durability;
  /** What applies the object. */
  owner?: OwnerRef;
  /** Whose list holds the entry: the owner, or the Kustomization that applies it. */
  host?: OwnerRef;
  /** Why the object has no durable place (guard-only), or why it is live. */
  reason?: string;
}

const MARK = '# sovereign-cutover: ';
const id = (r: ObjectRef): string => `${r.namespace}/${r.name}`;
const named = (r: OwnerRef): string => `${r.kind} ${id(r)}`;
const describe = (o: PivotObject): string => `${o.kind} ${id(o)}`;
const marker = (step: string, o: PivotObject): string => `${MARK}${step} ${describe(o)}`;
const ours = (entry: FluxPatch, step: string, o: PivotObject): boolean =>
  entry.patch.startsWith(`${marker(step, o)}\n`);
const apiOf = (r: OwnerRef): OwnerKind => (r.kind === 'Kustomization' ? KUSTOMIZATIONS : HELM_RELEASES);
/** The list an owner of this kind carries entries in. */
const listOf = (r: OwnerRef): 'patches' | 'postRenderers' => (r.kind === 'Kustomization' ? 'patches' : 'postRenderers');
const read = (cluster: KubeCluster, r: OwnerRef): Promise<FluxOwner | undefined> => getOwner(cluster, apiOf(r), r);

/** Where a pivot of this object is kept, from the labels Flux put on it. */
export async function placementOf(cluster: KubeCluster, o: PivotObject): Promise<Placement> {
  return (await locate(cluster, o)).placement;
}

/** The placement, and the owner object it was decided on (read once, for the entry too). */
async function locate(cluster: KubeCluster, o: PivotObject): Promise<{ placement: Placement; ownerObj?: FluxOwner }> {
  const found = ownerOf(o.labels);
  if (!found) return { placement: { durability: 'live' } };
  const owner: OwnerRef = { kind: found.kind, ...found.ref };
  const ownerObj = await read(cluster, owner);
  if (!ownerObj) return { placement: { durability: 'live', reason: `its ${named(owner)} is gone` } };
  if (!gitDefines(ownerObj, listOf(owner))) return { placement: { durability: 'owner', owner, host: owner }, ownerObj };
  const up = ownerOf(ownerObj.metadata.labels);
  const parent: OwnerRef | undefined = up?.kind === 'Kustomization' ? { kind: up.kind, ...up.ref } : undefined;
  const parentObj = parent && id(parent) !== id(owner) ? await read(cluster, parent) : undefined;
  if (!parent || !parentObj || gitDefines(parentObj, 'patches'))
    return {
      placement: {
        durability: 'guard-only',
        owner,
        reason: `Git defines spec.${listOf(owner)} of ${named(owner)} and no parent can carry ours`,
      },
      ownerObj,
    };
  return { placement: { durability: 'parent', owner, host: parent }, ownerObj };
}

/** The entry that pivots `o` in its owner's list. */
function ownerEntry(step: string, p: Pivot, owner: OwnerRef, ownerObj: FluxOwner): FluxPatch {
  const { apiVersion, kind, namespace, name } = p.object;
  const slash = apiVersion.lastIndexOf('/');
  const group = slash < 0 ? '' : apiVersion.slice(0, slash);
  const version = apiVersion.slice(slash + 1);
  // A chart's manifests may carry no namespace, and under a targetNamespace it is set after
  // patching: match those by kind and name only.
  const scoped = owner.kind === 'HelmRelease' || ownerObj.spec.targetNamespace ? {} : { namespace };
  const body = { apiVersion, kind, metadata: { name, ...scoped }, ...p.fields };
  return {
    patch: `${marker(step, p.object)}\n${stringify(body)}`,
    target: { ...(group ? { group } : {}), version, kind, name, ...scoped },
  };
}

/** The parent's entry: a JSON6902 `add` of the owner entry to the owner's (Git-defined) list. */
function parentEntry(step: string, p: Pivot, owner: OwnerRef, ownerObj: FluxOwner): FluxPatch {
  const entry = ownerEntry(step, p, owner, ownerObj);
  const value = owner.kind === 'Kustomization' ? entry : { kustomize: { patches: [entry] } };
  const api = apiOf(owner);
  return {
    patch: `${marker(step, p.object)}\n${stringify([{ op: 'add', path: `/spec/${listOf(owner)}/-`, value }])}`,
    target: { group: api.group, version: api.version, kind: owner.kind, name: owner.name, namespace: owner.namespace },
  };
}

interface Placed {
  pivot: Pivot;
  placement: Placement;
  entry: FluxPatch | undefined;
}

async function place(cluster: KubeCluster, step: string, pivots: Pivot[]): Promise<Placed[]> {
  const placed: Placed[] = [];
  for (const pivot of pivots) {
    const { placement, ownerObj } = await locate(cluster, pivot.object);
    const owner = placement.owner;
    const entry =
      owner && ownerObj && placement.durability === 'owner'
        ? ownerEntry(step, pivot, owner, ownerObj)
        : owner && ownerObj && placement.durability === 'parent'
          ? parentEntry(step, pivot, owner, ownerObj)
          : undefined;
    placed.push({ pivot, placement, entry });
  }
  return placed;
}

/** The entries a host carries: a Kustomization's patches, or every post-renderer's patches of a HelmRelease. */
function entriesOf(host: OwnerRef, o: FluxOwner | undefined): FluxPatch[] {
  if (!o) return [];
  if (host.kind === 'Kustomization') return o.spec.patches ?? [];
  return (o.spec.postRenderers ?? []).flatMap((r) => r.kustomize?.patches ?? []);
}

/**
 * The host's list with this step's entries for the `replaced` objects taken out and `add`ed: a
 * Kustomization's patches, or a HelmRelease's post-renderers, ours being the one whose patches
 * carry our marker.
 */
function composed(host: OwnerRef, o: FluxOwner, step: string, replaced: Placed[], add: FluxPatch[]): unknown[] {
  const keep = (e: FluxPatch) => !replaced.some((p) => ours(e, step, p.pivot.object));
  if (host.kind === 'Kustomization') return [...(o.spec.patches ?? []).filter(keep), ...add];
  const renderers = o.spec.postRenderers ?? [];
  const isOurs = (r: (typeof renderers)[number]) => (r.kustomize?.patches ?? []).some((e) => e.patch.startsWith(MARK));
  const patches = [
    ...renderers
      .filter(isOurs)
      .flatMap((r) => r.kustomize?.patches ?? [])
      .filter(keep),
    ...add,
  ];
  return [...renderers.filter((r) => !isOurs(r)), ...(patches.length ? [{ kustomize: { patches } }] : [])];
}

function byHost(placed: Placed[]): Map<string, { host: OwnerRef; placed: Placed[] }> {
  const hosts = new Map<string, { host: OwnerRef; placed: Placed[] }>();
  for (const p of placed.filter((p) => p.entry)) {
    const host = p.placement.host!;
    const group = hosts.get(named(host)) ?? { host, placed: [] };
    group.placed.push(p);
    hosts.set(named(host), group);
  }
  return hosts;
}

/**
 * What is missing for these pivots to hold: an entry absent from its host, or a live object not
 * carrying the change. Empty when everything is in place (a rerun's cheap re-verification).
 */
export async function missing(cluster: KubeCluster, step: string, pivots: Pivot[]): Promise<Change[]> {
  const placed = await place(cluster, step, pivots);
  const changes: Change[] = [];
  for (const { host, placed: group } of byHost(placed).values()) {
    const current = entriesOf(host, await read(cluster, host));
    for (const p of group) {
      if (!current.some((e) => isDeepStrictEqual(e, p.entry)))
        changes.push({
          action: 'patch',
          target: named(host),
          detail: `spec.${listOf(host)} keeps ${describe(p.pivot.object)} local (${durabilityText(p.placement)})`,
        });
    }
  }
  for (const p of placed) {
    if (!(await p.pivot.applied()))
      changes.push({
        action: 'patch',
        target: describe(p.pivot.object),
        detail: `live object not pivoted (${durabilityText(p.placement)})`,
      });
  }
  return changes;
}

export function durabilityText(p: Placement): string {
  switch (p.durability) {
    case 'owner':
      return `durable: spec.${listOf(p.host!)} on its ${named(p.host!)}`;
    case 'parent':
      return `durable: spec.patches on ${id(p.host!)}, which applies its ${named(p.owner!)}`;
    case 'live':
      return p.reason ? `live patch: ${p.reason}` : 'live patch: nothing re-applies it';
    case 'guard-only':
      return `guard-only: ${p.reason}`;
  }
}

/**
 * Pivots every object durably where it can and live where it cannot, then waits until each live
 * object carries the change (asking its owner to reconcile once). A patch its owner cannot build
 * or apply is taken out again and the step fails: nothing half-applied stays behind.
 */
export async function pivotDurably(
  env: Journaling,
  step: string,
  pivots: Pivot[],
  signal: AbortSignal,
  log: (line: string) => void,
): Promise<Placed[]> {
  const { cluster } = env;
  const placed = await placeEntries(env, step, pivots, log);
  for (const p of placed) {
    if (p.entry) continue;
    if (!(await p.pivot.applied())) await p.pivot.live();
    log(`${describe(p.pivot.object)}: ${durabilityText(p.placement)}`);
  }
  await settle(cluster, step, placed, signal);
  return placed;
}

/**
 * Writes this step's entries for `pivots` into their hosts' lists (read back) and nothing else:
 * no live patch, no wait. Alone, it pivots objects before they exist — an entry whose target is
 * absent matches nothing until Flux creates the object, which then starts local (the pin intake's
 * new Flux sources, ADR 0017). Objects with no durable place are returned without an entry.
 */
export async function placeEntries(
  env: Journaling,
  step: string,
  pivots: Pivot[],
  log: (line: string) => void,
): Promise<Placed[]> {
  const { cluster } = env;
  const placed = await place(cluster, step, pivots);
  // Journaled first: the live fields each pivot changes (an entry changes them through Flux).
  for (const p of placed) await journalFields(env, step, p.pivot.object, p.pivot.fields);
  for (const { host, placed: group } of byHost(placed).values()) {
    const field = listOf(host);
    const written = await rereadOnConflict(async () => {
      const current = await read(cluster, host);
      if (!current) throw new CutoverError('owner-gone', `${named(host)} disappeared while pivoting`);
      const list = composed(
        host,
        current,
        step,
        group,
        group.map((p) => p.entry!),
      );
      if (isDeepStrictEqual(list, current.spec[field] ?? [])) return undefined;
      await env.journal.record(step, [
        {
          op: 'entries',
          object: {
            apiVersion: `${apiOf(host).group}/${apiOf(host).version}`,
            kind: host.kind,
            namespace: host.namespace,
            name: host.name,
          },
          path: ['spec', field],
          before: current.spec[field],
          after: list,
        },
      ]);
      return await applyOwnerSpec(cluster, apiOf(host), current, { [field]: list });
    });
    if (!written) continue;
    // Read back: our entries are in the list the apiserver stored.
    for (const p of group)
      if (!entriesOf(host, written).some((e) => isDeepStrictEqual(e, p.entry)))
        throw new CutoverError(
          'not-pivoted',
          `${named(host)}: the patch for ${describe(p.pivot.object)} did not persist`,
        );
    log(`${named(host)}: spec.${field} keeps ${group.map((p) => describe(p.pivot.object)).join(', ')} local`);
  }
  return placed;
}

/** Waits for every live object to carry its change; an owner that cannot build or apply our entry undoes it. */
async function settle(cluster: KubeCluster, step: string, placed: Placed[], signal: AbortSignal): Promise<void> {
  const asked = new Set<string>();
  for (const p of placed) {
    if (!p.entry || (await p.pivot.applied())) continue;
    const owner = p.placement.owner!;
    // The spec change reconciles the host at once; a parent's entry reaches the owner on the owner's next reconcile.
    for (const ref of [p.placement.host!, owner]) {
      if (asked.has(named(ref))) continue;
      asked.add(named(ref));
      await requestReconcile(cluster, apiOf(ref), ref);
    }
    let forced = false;
    const s = await pollUntil(
      async () => {
        const state = { applied: await p.pivot.applied(), owner: await read(cluster, owner) };
        // A HelmRelease mid-install when our entry landed can record the new generation as done without
        // rendering it: once it is Ready on that generation without our value, force one upgrade.
        if (owner.kind === 'HelmRelease' && !state.applied && !forced && settledOnCurrent(state.owner)) {
          forced = true;
          await requestReconcile(cluster, HELM_RELEASES, owner, { force: true });
        }
        return state;
      },
      (s) => s.applied || rejected(owner.kind, s.owner),
      {
        signal,
        interval: doubling(250, 2000),
        code: 'not-pivoted',
        message: (s) =>
          `${describe(p.pivot.object)} was not re-applied with the local value by ${named(owner)} (${readiness(s.owner)})`,
      },
    );
    if (s.applied) continue;
    await unpatch(cluster, step, [p]);
    throw new CutoverError(
      'patch-rejected',
      `${named(owner)} could not build or apply the pivot of ${describe(p.pivot.object)}; it was removed again (${readiness(s.owner)})`,
    );
  }
}

function settledOnCurrent(o: FluxOwner | undefined): boolean {
  const ready = o && readyCondition(o as never);
  return Boolean(o && ready?.status === 'True' && ready.observedGeneration === o.metadata.generation);
}

const readiness = (o: FluxOwner | undefined): string => {
  const ready = o && readyCondition(o as never);
  return `Ready=${ready?.status ?? 'unknown'}: ${ready?.message ?? ''}`;
};

/**
 * The owner failed on the generation that carries our entry (the Ready condition's generation: a
 * failed reconcile does not advance `status.observedGeneration`): a Kustomization could not build
 * or apply it, a HelmRelease could not install or upgrade with it (but for a dependency not ready).
 */
function rejected(kind: OwnerRef['kind'], owner: FluxOwner | undefined): boolean {
  const ready = owner && readyCondition(owner as never);
  if (!owner || ready?.observedGeneration !== owner.metadata.generation || ready?.status !== 'False') return false;
  return kind === 'Kustomization'
    ? ['BuildFailed', 'ReconciliationFailed'].includes(ready.reason ?? '')
    : ready.reason !== 'DependencyNotReady';
}

/** Takes this step's entries for these objects out of their hosts. */
async function unpatch(cluster: KubeCluster, step: string, placed: Placed[]): Promise<void> {
  for (const { host, placed: group } of byHost(placed).values())
    await rereadOnConflict(async () => {
      const current = await read(cluster, host);
      if (current)
        await applyOwnerSpec(cluster, apiOf(host), current, {
          [listOf(host)]: composed(host, current, step, group, []),
        });
    });
}

/** Whether an owner's list carries an entry of the cutover's (any step's, the intake's hold too). */
function carriesOurs(host: OwnerRef, o: FluxOwner): boolean {
  return entriesOf(host, o).some((e) => e.patch.startsWith(MARK));
}

/**
 * Every Kustomization and HelmRelease in `namespaces` (those the cutover may patch: it can have written
 * nowhere else) that carries an entry of the cutover's.
 */
export async function ownersWithEntries(
  cluster: KubeCluster,
  namespaces: readonly string[],
): Promise<Array<{ host: OwnerRef; owner: FluxOwner }>> {
  const found: Array<{ host: OwnerRef; owner: FluxOwner }> = [];
  // Namespace by namespace: the API's rollback preview may list owners only where the cutover pivots.
  for (const kind of ['Kustomization', 'HelmRelease'] as const)
    for (const namespace of namespaces)
      for (const owner of await listOwners(
        cluster,
        kind === 'Kustomization' ? KUSTOMIZATIONS : HELM_RELEASES,
        namespace,
      )) {
        const host: OwnerRef = { kind, namespace: owner.metadata.namespace, name: owner.metadata.name };
        if (carriesOurs(host, owner)) found.push({ host, owner });
      }
  return found;
}

/**
 * Takes every entry of the cutover's out of the lists that hold them (rollback): a list the cutover
 * declared goes back to what others declare. A list Git defines carries ours only through its
 * parent's entry, so it is left to the parent's next apply; each host and its owner is asked to
 * reconcile. Returns what it changed.
 */
export async function removeAllEntries(
  cluster: KubeCluster,
  namespaces: readonly string[],
  log: (line: string) => void,
): Promise<OwnerRef[]> {
  const changed: OwnerRef[] = [];
  for (const { host, owner: listed } of await ownersWithEntries(cluster, namespaces)) {
    const field = listOf(host);
    if (gitDefines(listed, field)) continue;
    await rereadOnConflict(async () => {
      const owner = await read(cluster, host);
      if (!owner) return;
      const list =
        host.kind === 'Kustomization'
          ? (owner.spec.patches ?? []).filter((e) => !e.patch.startsWith(MARK))
          : (owner.spec.postRenderers ?? []).filter(
              (r) => !(r.kustomize?.patches ?? []).some((e) => e.patch.startsWith(MARK)),
            );
      await applyOwnerSpec(cluster, apiOf(host), owner, { [field]: list });
    });
    await requestReconcile(cluster, apiOf(host), host);
    log(`${named(host)}: the cutover's entries taken out of spec.${field}`);
    changed.push(host);
  }
  return changed;
}

/** Asks the owners still carrying our entries (through a parent's) to reconcile; returns how many do. */
export async function nudgeOwnersWithEntries(cluster: KubeCluster, namespaces: readonly string[]): Promise<string[]> {
  const left = await ownersWithEntries(cluster, namespaces);
  for (const { host, owner } of left) {
    await requestReconcile(cluster, apiOf(host), host);
    const up = ownerOf(owner.metadata.labels);
    if (up?.kind === 'Kustomization' && namespaces.includes(up.ref.namespace))
      await requestReconcile(cluster, KUSTOMIZATIONS, up.ref);
  }
  return left.map(({ host }) => named(host));
}
