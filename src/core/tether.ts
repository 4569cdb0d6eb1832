// The tether model: one reference to an upstream host in the live cluster, as the inventory reports it.
import type { TetherKind } from './values.ts';

export type { TetherKind };
export type TetherState = 'tethered' | 'unmapped' | 'pivoted' | 'exempt';

export interface Tether {
  kind: TetherKind;
  /** `Deployment catalyst/postgres`, `Node node-a`. */
  object: string;
  /** Field path in the object, e.g. `spec.template.spec.containers[0].image`. */
  field: string;
  /** The upstream reference as the cluster names it (images normalised: `nginx` → `docker.io/library/nginx:latest`). */
  upstream: string;
  /** Images: the digest the tag resolves to ('' when the registry could not say). */
  digest?: string;
  /** Where the host table sends it ('' when no row maps its host). */
  local: string;
  state: TetherState;
  /** Why it is exempt. */
  reason?: string;
  /** What applies the object (`Kustomization flux-system/catalyst`, `HelmRelease ns/name`), from Flux's labels. */
  owner?: string;
  /**
   * How the cutover's pivot of this row stays (Flux sources and env): `spec.patches` of the owning
   * Kustomization, `post-renderer` on the owning HelmRelease, `live` (nothing re-applies it).
   */
  durability?: 'spec.patches' | 'post-renderer' | 'live';
}

export interface TetherSummary {
  tethered: number;
  unmapped: number;
  pivoted: number;
  exempt: number;
  /** Sources the inventory could not read (a missing CRD is not one; a 403 is). */
  unreadable: string[];
}
