// What consumes a pivoted Flux source, and the proof that it still works: every Kustomization on a
// GitRepository applied the source's revision, and every HelmRelease on a chart source is Ready,
// each on its current generation (a Ready from before the pivot proves nothing).
import type { KubeCluster } from '../adapters/kube/cluster.ts';
import { HELM_RELEASES, KUSTOMIZATIONS, listOwners, type FluxOwner } from '../adapters/kube/flux-owners.ts';
import { readyCondition, readyOnCurrentGeneration, type FluxSource } from '../adapters/kube/flux.ts';
import { doubling, pollUntil } from '../core/poll.ts';

type SourceRef = { kind: string; name: string; namespace?: string };
const refers = (ref: SourceRef | undefined, owner: FluxOwner, kind: string, source: FluxSource): boolean =>
  ref?.kind === kind &&
  ref.name === source.metadata.name &&
  (ref.namespace ?? owner.metadata.namespace) === source.metadata.namespace;

const ready = (o: FluxOwner): boolean => readyOnCurrentGeneration(o as unknown as FluxSource);
const why = (o: FluxOwner): string => {
  const c = readyCondition(o as unknown as FluxSource);
  return `${o.metadata.namespace}/${o.metadata.name} Ready=${c?.status ?? 'unknown'} ${c?.reason ?? ''}: ${c?.message ?? ''}`;
};

/** Waits until every Kustomization on this GitRepository applied its current revision and is Ready. */
export async function waitKustomizationsOn(
  cluster: KubeCluster,
  source: FluxSource,
  signal: AbortSignal,
): Promise<FluxOwner[]> {
  const revision = source.status?.artifact?.revision;
  return await pollUntil(
    async () =>
      (await listOwners(cluster, KUSTOMIZATIONS)).filter((k) => refers(k.spec.sourceRef, k, 'GitRepository', source)),
    (ks) => ks.every((k) => ready(k) && k.status?.lastAppliedRevision === revision),
    {
      signal,
      interval: doubling(250, 5000),
      code: 'flux-not-ready',
      message: (ks) =>
        `Kustomizations on GitRepository ${source.metadata.namespace}/${source.metadata.name} did not apply ${revision}: ${ks
          .filter((k) => !ready(k) || k.status?.lastAppliedRevision !== revision)
          .map((k) => `${why(k)} (applied ${k.status?.lastAppliedRevision ?? 'nothing'})`)
          .join('; ')}`,
    },
  );
}

/** Waits until every HelmRelease whose chart comes from one of these sources is Ready on its current generation. */
export async function waitHelmReleasesOn(
  cluster: KubeCluster,
  sources: Array<{ kind: string; source: FluxSource }>,
  signal: AbortSignal,
): Promise<FluxOwner[]> {
  const uses = (r: FluxOwner) =>
    sources.some(
      ({ kind, source }) =>
        refers(r.spec.chart?.spec?.sourceRef, r, kind, source) || refers(r.spec.chartRef, r, kind, source),
    );
  return await pollUntil(
    async () => (await listOwners(cluster, HELM_RELEASES)).filter(uses),
    (rs) => rs.every(ready),
    {
      signal,
      interval: doubling(250, 5000),
      code: 'flux-not-ready',
      message: (rs) =>
        `HelmReleases on the pivoted chart sources are not Ready: ${rs
          .filter((r) => !ready(r))
          .map(why)
          .join('; ')}`,
    },
  );
}
