// The lab Sovereign the way Flux bootstraps a cluster: apply the bootstrap objects, let Flux
// reconcile the rest from the upstream GitOps repo, and wait until it has converged (every
// Kustomization and HelmRelease Ready on its current generation, the root on the source's
// revision). `reset` takes whatever the cutover added to the Flux objects away first.
import { setTimeout as sleep } from 'node:timers/promises';
import { KubeConfig, type KubernetesObject } from '@kubernetes/client-node';
import { CustomObjectsApi, PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import { apply } from './apply.ts';
import { ADMIN_KUBECONFIG } from './control-plane.ts';

const KUSTOMIZE = { group: 'kustomize.toolkit.fluxcd.io', version: 'v1', plural: 'kustomizations' };
const HELM = { group: 'helm.toolkit.fluxcd.io', version: 'v2', plural: 'helmreleases' };
// OCI HelmRepositories have no reconciler (so no Ready): the sources that do.
const SOURCES = ['gitrepositories', 'ocirepositories'].map((plural) => ({
  group: 'source.toolkit.fluxcd.io',
  version: 'v1',
  plural,
}));
const mergePatch = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);
const REQUESTED_AT = 'reconcile.fluxcd.io/requestedAt';

interface FluxObject {
  metadata: { name: string; namespace: string; generation?: number; annotations?: Record<string, string> };
  spec: { patches?: unknown[]; postRenderers?: unknown[]; sourceRef?: { kind: string; name: string } };
  status?: {
    observedGeneration?: number;
    conditions?: Array<{ type: string; status: string; reason?: string; message?: string }>;
    lastHandledReconcileAt?: string;
  };
}

function api(): CustomObjectsApi {
  const config = new KubeConfig();
  config.loadFromFile(ADMIN_KUBECONFIG);
  return config.makeApiClient(CustomObjectsApi);
}

const list = async (custom: CustomObjectsApi, kind: typeof KUSTOMIZE): Promise<FluxObject[]> =>
  ((await custom.listClusterCustomObject(kind)) as { items: FluxObject[] }).items;

/** Why an object is not converged yet, or undefined when it is. */
function notConverged(o: FluxObject, token?: string): string | undefined {
  const ready = o.status?.conditions?.find((c) => c.type === 'Ready');
  const id = `${o.metadata.namespace}/${o.metadata.name}`;
  if (o.status?.observedGeneration !== o.metadata.generation) return `${id}: generation not observed yet`;
  if (token && o.status?.lastHandledReconcileAt !== token) return `${id}: reconcile request not handled yet`;
  if (ready?.status !== 'True')
    return `${id}: Ready=${ready?.status ?? 'unknown'} ${ready?.reason ?? ''} ${ready?.message ?? ''}`;
  return undefined;
}

/**
 * Waits until every Kustomization, HelmRelease and Git/OCI source in the cluster is converged; with `token`, the
 * ones that were asked to reconcile must have handled that request. `expect` names objects that
 * must exist (Flux creates the children itself, so an empty list is not "converged").
 */
export async function waitConverged(expect: string[], timeoutMs = 180_000, token?: string): Promise<void> {
  const custom = api();
  const deadline = Date.now() + timeoutMs;
  let why = 'nothing listed yet';
  while (Date.now() < deadline) {
    const kustomizations = await list(custom, KUSTOMIZE);
    const releases = await list(custom, HELM);
    const sources = (await Promise.all(SOURCES.map((kind) => list(custom, kind)))).flat();
    const present = new Set([...kustomizations, ...releases].map((o) => `${o.metadata.namespace}/${o.metadata.name}`));
    const missing = expect.filter((id) => !present.has(id));
    const waiting = [
      ...missing.map((id) => `${id}: not created yet`),
      ...kustomizations.map((o) =>
        notConverged(o, token && o.metadata.annotations?.[REQUESTED_AT] === token ? token : undefined),
      ),
      ...[...releases, ...sources].map((o) => notConverged(o)),
    ].filter((w): w is string => Boolean(w));
    if (!waiting.length) return;
    why = waiting.join('; ');
    await sleep(250);
  }
  throw new Error(`the lab Sovereign did not converge within ${timeoutMs / 1000} s: ${why}`);
}

/** Applies the bootstrap objects and asks every Kustomization to reconcile now (a reset must not wait an interval). */
export async function bootstrap(objects: KubernetesObject[], expect: string[]): Promise<void> {
  await apply(ADMIN_KUBECONFIG, objects);
  const custom = api();
  const token = new Date().toISOString();
  for (const k of await list(custom, KUSTOMIZE)) {
    await custom.patchNamespacedCustomObject(
      {
        ...KUSTOMIZE,
        namespace: k.metadata.namespace,
        name: k.metadata.name,
        body: { metadata: { annotations: { [REQUESTED_AT]: token } } },
      },
      mergePatch,
    );
  }
  await waitConverged(expect, 180_000, token);
}

/**
 * Removes what a cutover adds to Flux's own objects (Kustomization `spec.patches`, HelmRelease
 * `spec.postRenderers`; the lab's Git defines neither), so the next reconcile applies Git as it is.
 */
export async function removeCutoverPatches(): Promise<void> {
  const custom = api();
  for (const [kind, field] of [
    [KUSTOMIZE, 'patches'],
    [HELM, 'postRenderers'],
  ] as const) {
    for (const o of await list(custom, kind)) {
      if (!o.spec[field]) continue;
      await custom.patchNamespacedCustomObject(
        { ...kind, namespace: o.metadata.namespace, name: o.metadata.name, body: { spec: { [field]: null } } },
        mergePatch,
      );
    }
  }
}
