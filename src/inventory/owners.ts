// What applies a tether's object, from the labels Flux's controllers put on what they apply, and
// how the cutover's pivot of it stays (ADR 0011): rows the pivot steps change (Flux sources, env)
// say whether a Kustomization's spec.patches keeps them, a HelmRelease's post-renderer, or nothing.
import { ownerOf } from '../adapters/kube/flux-owners.ts';
import type { Tether } from '../core/tether.ts';

const PIVOTED_BY_STEPS = new Set(['git-repository', 'helm-repository', 'oci-repository', 'env']);

export function withOwner(tethers: Tether[], labels: Record<string, string> | undefined): Tether[] {
  const owner = ownerOf(labels);
  return tethers.map((t) => ({
    ...t,
    ...(owner ? { owner: `${owner.kind} ${owner.ref.namespace}/${owner.ref.name}` } : {}),
    ...(PIVOTED_BY_STEPS.has(t.kind)
      ? { durability: !owner ? 'live' : owner.kind === 'Kustomization' ? 'spec.patches' : 'post-renderer' }
      : {}),
  }));
}
