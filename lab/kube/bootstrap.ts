// The lab Sovereign the way Flux bootstraps a cluster: apply the bootstrap objects, let Flux
// reconcile the rest from the upstream GitOps repo, and wait until it has converged (every
// Kustomization and HelmRelease Ready on its current generation, the root on the source's
// revision). `reset` takes whatever the cutover added to the Flux objects away first.
import { setTimeout as sleep } from 'node:timers/promises';
import type { KubernetesObject } from '@kubernetes/client-node';
import { KubeCluster, mergePatch } from '../../src/adapters/kube/cluster.ts';
import { HELM_RELEASES, KUSTOMIZATIONS, listOwners } from '../../src/adapters/kube/flux-owners.ts';
import { listFluxAll, readyCondition, REQUESTED_AT, type FluxSource } from '../../src/adapters/kube/flux.ts';
import { apply } from './apply.ts';
import { ADMIN_KUBECONFIG } from './control-plane.ts';

/** What convergence looks at, common to Kustomizations, HelmReleases and sources. */
type FluxObject = Pick<FluxSource, 'metadata' | 'status'>;

/** Why an object is not converged yet, or undefined when it is. */
function notConverged(o: FluxObject, token?: string): string | undefined {
  const ready = readyCondition(o as FluxSource);
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
  const cluster = KubeCluster.connect(ADMIN_KUBECONFIG);
  const deadline = Date.now() + timeoutMs;
  let why = 'nothing listed yet';
  while (Date.now() < deadline) {
    const kustomizations = await listOwners(cluster, KUSTOMIZATIONS);
    const releases = await listOwners(cluster, HELM_RELEASES);
    // OCI HelmRepositories have no reconciler (so no Ready): the sources that do.
    const sources = [
      ...(await listFluxAll(cluster, 'gitrepositories')),
      ...(await listFluxAll(cluster, 'ocirepositories')),
    ];
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
  const cluster = KubeCluster.connect(ADMIN_KUBECONFIG);
  // One token for all, so the wait can tell which requests were handled.
  const token = new Date().toISOString();
  for (const k of await listOwners(cluster, KUSTOMIZATIONS)) {
    await cluster.custom.patchNamespacedCustomObject(
      {
        ...KUSTOMIZATIONS,
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
  const cluster = KubeCluster.connect(ADMIN_KUBECONFIG);
  for (const [kind, field] of [
    [KUSTOMIZATIONS, 'patches'],
    [HELM_RELEASES, 'postRenderers'],
  ] as const) {
    for (const o of await listOwners(cluster, kind)) {
      if (!o.spec[field]) continue;
      await cluster.custom.patchNamespacedCustomObject(
        { ...kind, namespace: o.metadata.namespace, name: o.metadata.name, body: { spec: { [field]: null } } },
        mergePatch,
      );
    }
  }
}
