// A pivot that survives GitOps (ADR 0011). An object applied by a Flux Kustomization is pivoted
// by adding a patch to that Kustomization's `spec.patches` — Flux's own desired state then carries
// the local value, and every reconcile re-applies it. When Git already defines the owner's
// `spec.patches` (an atomic list: the parent's next apply would drop our entry), the entry goes
// one level up, as a JSON6902 `add` on the parent that applies the owner. Objects nothing applies
// are patched live; objects with no place for a patch (a HelmRelease's, a root whose Git has
// patches) are patched live and kept by the guard. Each entry starts with a marker comment naming
// the step and the object, so a step replaces its own entries and leaves every other one alone.
import { isDeepStrictEqual } from 'node:util';
import { stringify } from 'yaml';
import {
  applyKustomizationPatches,
  getOwner,
  gitDefinesPatches,
  KUSTOMIZATIONS,
  ownerOf,
  requestReconcile,
  type FluxOwner,
  type FluxPatch,
  type ObjectRef,
} from '../adapters/kube/flux-owners.ts';
import { readyCondition } from '../adapters/kube/flux.ts';
import type { KubeCluster } from '../adapters/kube/cluster.ts';
import { CutoverError } from '../core/errors.ts';
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

export interface Placement {
  durability: Durability;
  /** The Kustomization that applies the object. */
  owner?: ObjectRef;
  /** The Kustomization whose `spec.patches` holds the entry (the owner, or its parent). */
  host?: ObjectRef;
  /** Why the object has no durable place, for guard-only. */
  reason?: string;
}

const id = (r: ObjectRef): string => `${r.namespace}/${r.name}`;
const describe = (o: PivotObject): string => `${o.kind} ${id(o)}`;
const marker = (step: string, o: PivotObject): string => `# sovereign-cutover: ${step} ${describe(o)}`;
const ours = (entry: FluxPatch, step: string, o: PivotObject): boolean =>
  entry.patch.startsWith(`${marker(step, o)}\n`);

/** Where a pivot of this object is kept, from the labels Flux put on it. */
export async function placementOf(cluster: KubeCluster, o: PivotObject): Promise<Placement> {
  const owner = ownerOf(o.labels);
  if (!owner) return { durability: 'live' };
  if (owner.kind === 'HelmRelease')
    return { durability: 'guard-only', reason: `applied by HelmRelease ${id(owner.ref)} (post-renderers: not yet)` };
  const k = await getOwner(cluster, KUSTOMIZATIONS, owner.ref);
  if (!k) return { durability: 'live', reason: `its Kustomization ${id(owner.ref)} is gone` };
  if (!gitDefinesPatches(k)) return { durability: 'owner', owner: owner.ref, host: owner.ref };
  const parent = ownerOf(k.metadata.labels);
  const parentK = parent?.kind === 'Kustomization' ? await getOwner(cluster, KUSTOMIZATIONS, parent.ref) : undefined;
  if (!parentK || id(parent!.ref) === id(owner.ref) || gitDefinesPatches(parentK))
    return {
      durability: 'guard-only',
      owner: owner.ref,
      reason: `Git defines spec.patches of Kustomization ${id(owner.ref)} and no parent can carry ours`,
    };
  return { durability: 'parent', owner: owner.ref, host: parent!.ref };
}

/** The `spec.patches` entry that pivots `o` on the Kustomization that applies it. */
function ownerEntry(step: string, p: Pivot, owner: FluxOwner): FluxPatch {
  const { apiVersion, kind, namespace, name } = p.object;
  const slash = apiVersion.lastIndexOf('/');
  const group = slash < 0 ? '' : apiVersion.slice(0, slash);
  const version = apiVersion.slice(slash + 1);
  // Under a targetNamespace the namespace is set after patching: match by kind and name only.
  const scoped = owner.spec.targetNamespace ? {} : { namespace };
  const body = { apiVersion, kind, metadata: { name, ...scoped }, ...p.fields };
  return {
    patch: `${marker(step, p.object)}\n${stringify(body)}`,
    target: { ...(group ? { group } : {}), version, kind, name, ...scoped },
  };
}

/** The parent's entry: a JSON6902 `add` of the owner entry to the owner's (Git-defined) list. */
function parentEntry(step: string, p: Pivot, owner: FluxOwner): FluxPatch {
  const ops = [{ op: 'add', path: '/spec/patches/-', value: ownerEntry(step, p, owner) }];
  return {
    patch: `${marker(step, p.object)}\n${stringify(ops)}`,
    target: {
      group: KUSTOMIZATIONS.group,
      version: KUSTOMIZATIONS.version,
      kind: 'Kustomization',
      name: owner.metadata.name,
      namespace: owner.metadata.namespace,
    },
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
    const placement = await placementOf(cluster, pivot.object);
    const owner = placement.owner && (await getOwner(cluster, KUSTOMIZATIONS, placement.owner));
    const entry =
      owner && placement.durability === 'owner'
        ? ownerEntry(step, pivot, owner)
        : owner && placement.durability === 'parent'
          ? parentEntry(step, pivot, owner)
          : undefined;
    placed.push({ pivot, placement, entry });
  }
  return placed;
}

/** The host's list with this step's entries for these objects replaced by `entries`. */
function composed(host: FluxOwner, step: string, placed: Placed[]): FluxPatch[] {
  const others = (host.spec.patches ?? []).filter((e) => !placed.some((p) => ours(e, step, p.pivot.object)));
  return [...others, ...placed.map((p) => p.entry!)];
}

function byHost(placed: Placed[]): Map<string, Placed[]> {
  const hosts = new Map<string, Placed[]>();
  for (const p of placed.filter((p) => p.entry)) {
    const key = id(p.placement.host!);
    hosts.set(key, [...(hosts.get(key) ?? []), p]);
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
  for (const [host, group] of byHost(placed)) {
    const [namespace, name] = host.split('/') as [string, string];
    const current = (await getOwner(cluster, KUSTOMIZATIONS, { namespace, name }))?.spec.patches ?? [];
    for (const p of group) {
      if (!current.some((e) => isDeepStrictEqual(e, p.entry)))
        changes.push({
          action: 'patch',
          target: `Kustomization ${host}`,
          detail: `spec.patches keeps ${describe(p.pivot.object)} local (${p.placement.durability === 'parent' ? `via its owner ${id(p.placement.owner!)}` : 'its owner'})`,
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
      return `durable: spec.patches on its Kustomization ${id(p.host!)}`;
    case 'parent':
      return `durable: spec.patches on ${id(p.host!)}, which applies its Kustomization ${id(p.owner!)}`;
    case 'live':
      return p.reason ? `live patch: ${p.reason}` : 'live patch: nothing re-applies it';
    case 'guard-only':
      return `guard-only: ${p.reason}`;
  }
}

/**
 * Pivots every object durably where it can and live where it cannot, then waits until each live
 * object carries the change (asking its owner to reconcile once). A patch its Kustomization cannot
 * build is taken out again and the step fails: nothing half-applied stays behind.
 */
export async function pivotDurably(
  cluster: KubeCluster,
  step: string,
  pivots: Pivot[],
  signal: AbortSignal,
  log: (line: string) => void,
): Promise<Placed[]> {
  const placed = await place(cluster, step, pivots);
  for (const [host, group] of byHost(placed)) {
    const [namespace, name] = host.split('/') as [string, string];
    const current = await getOwner(cluster, KUSTOMIZATIONS, { namespace, name });
    if (!current) throw new CutoverError('owner-gone', `Kustomization ${host} disappeared while pivoting`);
    const patches = composed(current, step, group);
    if (isDeepStrictEqual(patches, current.spec.patches ?? [])) continue;
    const written = await applyKustomizationPatches(cluster, current, patches);
    // Read back: our entries are in the list the apiserver stored.
    for (const p of group)
      if (!written.spec.patches?.some((e) => isDeepStrictEqual(e, p.entry)))
        throw new CutoverError(
          'not-pivoted',
          `Kustomization ${host}: the patch for ${describe(p.pivot.object)} did not persist`,
        );
    log(`Kustomization ${host}: spec.patches keeps ${group.map((p) => describe(p.pivot.object)).join(', ')} local`);
  }
  for (const p of placed) {
    if (p.entry) continue;
    if (!(await p.pivot.applied())) await p.pivot.live();
    log(`${describe(p.pivot.object)}: ${durabilityText(p.placement)}`);
  }
  await settle(cluster, step, placed, signal);
  return placed;
}

/** Waits for every live object to carry its change; an owner that cannot build our patch undoes it. */
async function settle(cluster: KubeCluster, step: string, placed: Placed[], signal: AbortSignal): Promise<void> {
  const asked = new Set<string>();
  for (const p of placed) {
    if (!p.entry || (await p.pivot.applied())) continue;
    const owner = p.placement.owner!;
    // The spec change reconciles the host at once; a parent's entry reaches the owner on the owner's next reconcile.
    for (const ref of [p.placement.host!, owner]) {
      if (asked.has(id(ref))) continue;
      asked.add(id(ref));
      await requestReconcile(cluster, KUSTOMIZATIONS, ref);
    }
    await pollUntil(
      async () => ({ applied: await p.pivot.applied(), owner: await getOwner(cluster, KUSTOMIZATIONS, owner) }),
      (s) => s.applied || rejected(s.owner),
      {
        signal,
        interval: doubling(250, 2000),
        code: 'not-pivoted',
        message: (s) =>
          `${describe(p.pivot.object)} was not re-applied with the local value by Kustomization ${id(owner)} (Ready=${readyCondition(s.owner as never)?.status ?? 'unknown'}: ${readyCondition(s.owner as never)?.message ?? ''})`,
      },
    ).then(async (s) => {
      if (s.applied) return;
      await unpatch(cluster, step, [p]);
      throw new CutoverError(
        'patch-rejected',
        `Kustomization ${id(owner)} could not build with the pivot of ${describe(p.pivot.object)}; it was removed again: ${readyCondition(s.owner as never)?.message ?? ''}`,
      );
    });
  }
}

/**
 * The owner failed on the generation that carries our entry: it could not build it or apply it. The
 * wait ends and the entry is taken out (a Kustomization failing for any reason on that generation is
 * not one to leave our patch in).
 */
function rejected(owner: FluxOwner | undefined): boolean {
  const ready = owner && readyCondition(owner as never);
  return Boolean(
    owner &&
    ready?.observedGeneration === owner.metadata.generation &&
    ready?.status === 'False' &&
    ['BuildFailed', 'ReconciliationFailed'].includes(ready.reason ?? ''),
  );
}

/** Takes this step's entries for these objects out of their hosts. */
async function unpatch(cluster: KubeCluster, step: string, placed: Placed[]): Promise<void> {
  for (const [host, group] of byHost(placed)) {
    const [namespace, name] = host.split('/') as [string, string];
    const current = await getOwner(cluster, KUSTOMIZATIONS, { namespace, name });
    if (!current) continue;
    const others = (current.spec.patches ?? []).filter((e) => !group.some((p) => ours(e, step, p.pivot.object)));
    await applyKustomizationPatches(cluster, current, others);
  }
}
