// The Flux objects that apply other objects: Kustomizations (kustomize.toolkit.fluxcd.io/v1) and
// HelmReleases (helm.toolkit.fluxcd.io/v2). What applied an object is read from the labels the
// controllers put on everything they apply; `spec.patches` is written by server-side apply under
// the cutover's field manager (ADR 0011).
import { PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import { PeerError } from '../../core/errors.ts';
import { kubeError, mergePatch, type KubeCluster } from './cluster.ts';
import { REQUESTED_AT, type FluxCondition } from './flux.ts';

export const FIELD_MANAGER = 'sovereign-cutover';
const applyPatch = setHeaderOptions('Content-Type', PatchStrategy.ServerSideApply);

export const KUSTOMIZATIONS = { group: 'kustomize.toolkit.fluxcd.io', version: 'v1', plural: 'kustomizations' };
export const HELM_RELEASES = { group: 'helm.toolkit.fluxcd.io', version: 'v2', plural: 'helmreleases' };
export type OwnerKind = typeof KUSTOMIZATIONS | typeof HELM_RELEASES;

export interface ObjectRef {
  namespace: string;
  name: string;
}

/** One entry of `Kustomization.spec.patches`: a strategic-merge or JSON6902 patch (YAML) and what it targets. */
export interface FluxPatch {
  patch: string;
  target?: { group?: string; version?: string; kind?: string; name?: string; namespace?: string };
}

interface ManagedFields {
  manager?: string;
  operation?: string;
  fieldsV1?: Record<string, unknown>;
}

export interface FluxOwner {
  metadata: ObjectRef & {
    generation?: number;
    resourceVersion?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    managedFields?: ManagedFields[];
  };
  spec: {
    patches?: FluxPatch[];
    /** HelmRelease: kustomize post-renderers (patches on what the chart renders). */
    postRenderers?: Array<{ kustomize?: { patches?: FluxPatch[]; [other: string]: unknown } }>;
    targetNamespace?: string;
    /** Kustomization: the directory of its source it applies. */
    path?: string;
    sourceRef?: { kind: string; name: string; namespace?: string };
    chart?: { spec?: { sourceRef?: { kind: string; name: string; namespace?: string } } };
    chartRef?: { kind: string; name: string; namespace?: string };
  };
  status?: {
    conditions?: FluxCondition[];
    observedGeneration?: number;
    lastAppliedRevision?: string;
    lastHandledReconcileAt?: string;
  };
}

const OWNER_LABEL = {
  kustomization: 'kustomize.toolkit.fluxcd.io',
  helmRelease: 'helm.toolkit.fluxcd.io',
} as const;

/** The Kustomization or HelmRelease that applied an object, from its labels; undefined when nothing did. */
export function ownerOf(
  labels: Record<string, string> | undefined,
): { kind: 'Kustomization' | 'HelmRelease'; ref: ObjectRef } | undefined {
  for (const [kind, prefix] of [
    ['Kustomization', OWNER_LABEL.kustomization],
    ['HelmRelease', OWNER_LABEL.helmRelease],
  ] as const) {
    const name = labels?.[`${prefix}/name`];
    const namespace = labels?.[`${prefix}/namespace`];
    if (name && namespace) return { kind, ref: { namespace, name } };
  }
  return undefined;
}

/**
 * Whether Git (applied by kustomize-controller) sets this field of the spec — a Kustomization's
 * `patches`, a HelmRelease's `postRenderers`: then the list is Git's, atomic, and a parent's
 * re-apply would drop any entry we add to it.
 */
export function gitDefines(o: FluxOwner, field: 'patches' | 'postRenderers'): boolean {
  return (o.metadata.managedFields ?? []).some(
    (m) =>
      m.manager === 'kustomize-controller' &&
      Boolean((m.fieldsV1?.['f:spec'] as Record<string, unknown> | undefined)?.[`f:${field}`]),
  );
}

export async function getOwner(cluster: KubeCluster, kind: OwnerKind, ref: ObjectRef): Promise<FluxOwner | undefined> {
  try {
    return (await cluster.custom.getNamespacedCustomObject({ ...kind, ...ref })) as FluxOwner;
  } catch (error) {
    if ((error as { code?: number }).code === 404) return undefined;
    throw kubeError('GET', `${kind.plural}/${ref.namespace}/${ref.name}`, error);
  }
}

/** Every object of the kind in the cluster; none when Flux's CRD is not installed. */
export async function listOwners(cluster: KubeCluster, kind: OwnerKind, namespace?: string): Promise<FluxOwner[]> {
  try {
    const list = namespace
      ? await cluster.custom.listNamespacedCustomObject({ ...kind, namespace })
      : await cluster.custom.listClusterCustomObject(kind);
    return (list as { items: FluxOwner[] }).items;
  } catch (error) {
    if ((error as { code?: number }).code === 404) return [];
    throw kubeError('GET', namespace ? `${kind.plural} in ${namespace}` : kind.plural, error);
  }
}

/**
 * Declares the cutover's part of an owner's spec (`patches`, `postRenderers`) by server-side apply
 * under our field manager; `resourceVersion` makes it fail rather than overwrite a list someone
 * changed since it was read. A field given as an empty list is dropped, not declared: it then goes
 * back to whoever else sets it.
 */
export async function applyOwnerSpec(
  cluster: KubeCluster,
  kind: OwnerKind,
  o: FluxOwner,
  spec: Record<string, unknown[]>,
): Promise<FluxOwner> {
  const { namespace, name, resourceVersion } = o.metadata;
  const declared = Object.fromEntries(Object.entries(spec).filter(([, list]) => list.length));
  try {
    return (await cluster.custom.patchNamespacedCustomObject(
      {
        ...kind,
        namespace,
        name,
        fieldManager: FIELD_MANAGER,
        force: true,
        body: {
          apiVersion: `${kind.group}/${kind.version}`,
          kind: kind === KUSTOMIZATIONS ? 'Kustomization' : 'HelmRelease',
          metadata: { name, namespace, resourceVersion },
          ...(Object.keys(declared).length ? { spec: declared } : {}),
        },
      },
      applyPatch,
    )) as FluxOwner;
  } catch (error) {
    throw kubeError('APPLY', `${kind.plural}/${namespace}/${name}`, error);
  }
}

/**
 * Runs a read-compose-apply of an owner's spec again when the apply meets a 409: Flux (or a
 * parent applying Git) wrote the object between our read and our write. Each attempt must read
 * afresh, so nothing anyone else wrote is overwritten; five conflicts in a row are an error.
 */
export async function rereadOnConflict<T>(attempt: () => Promise<T>): Promise<T> {
  for (let n = 1; ; n++) {
    try {
      return await attempt();
    } catch (error) {
      if (!(error instanceof PeerError && error.status === 409) || n === 5) throw error;
      await new Promise((resolve) => setTimeout(resolve, 50 * n));
    }
  }
}

/** The annotation that makes helm-controller upgrade even when it thinks the release in sync (`flux reconcile hr --force`). */
const FORCE_AT = 'reconcile.fluxcd.io/forceAt';

/** Asks Flux to reconcile now (the `flux reconcile` annotation); `force`: a HelmRelease upgrades regardless. */
export async function requestReconcile(
  cluster: KubeCluster,
  kind: OwnerKind,
  ref: ObjectRef,
  options: { force?: boolean } = {},
): Promise<void> {
  const token = new Date().toISOString();
  const annotations = { [REQUESTED_AT]: token, ...(options.force ? { [FORCE_AT]: token } : {}) };
  try {
    await cluster.custom.patchNamespacedCustomObject(
      { ...kind, ...ref, body: { metadata: { annotations } } },
      mergePatch,
    );
  } catch (error) {
    throw kubeError('PATCH', `${kind.plural}/${ref.namespace}/${ref.name}`, error);
  }
}
