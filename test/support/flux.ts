// Flux as the tests drive it: create a Flux object in a test's namespace; ask every Kustomization
// and HelmRelease to reconcile (what `flux reconcile` does) and wait until each has handled the
// request and is Ready again.
import { mergePatch, type KubeCluster } from '../../src/adapters/kube/cluster.ts';
import { HELM_RELEASES, KUSTOMIZATIONS, listOwners, type FluxOwner } from '../../src/adapters/kube/flux-owners.ts';
import { readyCondition, REQUESTED_AT } from '../../src/adapters/kube/flux.ts';
import type { V1Secret } from '@kubernetes/client-node';
import { UPSTREAM_GIT_CA_SECRET, upstreamGitCaSecret } from '../../lab/kube/sovereign.ts';
import { eventually, kube } from './kube.ts';

const id = (o: FluxOwner) => `${o.metadata.namespace}/${o.metadata.name}`;
const ready = (o: FluxOwner) => readyCondition(o as never);

async function owners(cluster: KubeCluster): Promise<Array<{ kind: typeof KUSTOMIZATIONS; o: FluxOwner }>> {
  return [
    ...(await listOwners(cluster, KUSTOMIZATIONS)).map((o) => ({ kind: KUSTOMIZATIONS, o })),
    ...(await listOwners(cluster, HELM_RELEASES)).map((o) => ({ kind: HELM_RELEASES, o })),
  ];
}

/** One forced reconcile of every Kustomization and HelmRelease; returns the seconds until all handled it, Ready. */
export async function reconcileAll(cluster: KubeCluster): Promise<number> {
  const token = new Date().toISOString();
  const started = performance.now();
  for (const { kind, o } of await owners(cluster))
    await cluster.custom.patchNamespacedCustomObject(
      { ...kind, ...o.metadata, body: { metadata: { annotations: { [REQUESTED_AT]: token } } } },
      mergePatch,
    );
  await eventually(
    `every Kustomization and HelmRelease to handle reconcile request ${token}, Ready`,
    async () =>
      (await owners(cluster)).every(
        ({ o }) =>
          o.status?.lastHandledReconcileAt === token &&
          ready(o)?.status === 'True' &&
          o.status.observedGeneration === o.metadata.generation,
      ),
    120_000,
    async () =>
      (await owners(cluster))
        .map(
          ({ o }) =>
            `${id(o)}: handled ${o.status?.lastHandledReconcileAt}, Ready=${ready(o)?.status} ${ready(o)?.message}`,
        )
        .join('\n'),
  );
  return (performance.now() - started) / 1000;
}

/** Creates a Flux object (`group/version` `kind`) named `name` in `namespace`. */
export function createFlux(
  namespace: string,
  group: string,
  version: string,
  plural: string,
  kind: string,
  name: string,
  spec: object,
) {
  return kube().custom.createNamespacedCustomObject({
    group,
    version,
    namespace,
    plural,
    body: { apiVersion: `${group}/${version}`, kind, metadata: { name }, spec },
  });
}

/**
 * A GitRepository on the upstream Git (or a fork it serves): HTTPS on the private CA, so the CA goes
 * in a Secret its secretRef names, as the lab Sovereign's own do.
 */
export async function createUpstreamGitRepository(
  namespace: string,
  name: string,
  spec: { url: string; ref: object; interval?: string },
) {
  await kube()
    .core.createNamespacedSecret({ namespace, body: upstreamGitCaSecret(namespace) as V1Secret })
    .catch((error: unknown) => {
      if ((error as { code?: number }).code !== 409) throw error;
    });
  return await createFlux(namespace, 'source.toolkit.fluxcd.io', 'v1', 'gitrepositories', 'GitRepository', name, {
    interval: '1m',
    ...spec,
    secretRef: { name: UPSTREAM_GIT_CA_SECRET },
  });
}
