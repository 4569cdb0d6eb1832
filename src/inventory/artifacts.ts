// Every artifact the Sovereign pulls from an upstream host today: images of every workload kind
// (templates too, so scaled-to-zero and suspended ones count), `prewarm.images`, and the charts of
// OCI HelmRepositories. Each is mapped to its local Harbor project through the host table.
import type { V1PodSpec } from '@kubernetes/client-node';
import type { KubeCluster } from '../adapters/kube/cluster.ts';
import { listFluxAll } from '../adapters/kube/flux.ts';
import type { HostProject, Values } from '../core/values.ts';
import { formatImageRef, parseImageRef, type ImageRef } from './image-ref.ts';

export interface Artifact {
  kind: 'image' | 'chart';
  ref: ImageRef;
  /** Where it was found, e.g. `Deployment catalyst-system/catalyst-api`. */
  foundIn: string[];
}

export interface MappedArtifact extends Artifact {
  row: HostProject;
  /** Repository in the local Harbor: `<project>/<upstream path>`. */
  localRepo: string;
}

export interface ArtifactInventory {
  mapped: MappedArtifact[];
  /** References to hosts the table does not map: tethers nothing would pivot. */
  unmapped: Artifact[];
}

function podSpecImages(spec: V1PodSpec | undefined): string[] {
  return [...(spec?.initContainers ?? []), ...(spec?.containers ?? []), ...(spec?.ephemeralContainers ?? [])].map((c) => c.image ?? '').filter(Boolean);
}

async function workloadImages(cluster: KubeCluster): Promise<Array<[string, string]>> {
  const found: Array<[string, string]> = [];
  const add = (kind: string, meta: { namespace?: string; name?: string } | undefined, spec: V1PodSpec | undefined) => {
    for (const image of podSpecImages(spec)) found.push([image, `${kind} ${meta?.namespace}/${meta?.name}`]);
  };
  for (const d of (await cluster.apps.listDeploymentForAllNamespaces()).items) add('Deployment', d.metadata, d.spec?.template.spec);
  for (const s of (await cluster.apps.listStatefulSetForAllNamespaces()).items) add('StatefulSet', s.metadata, s.spec?.template.spec);
  for (const d of (await cluster.apps.listDaemonSetForAllNamespaces()).items) add('DaemonSet', d.metadata, d.spec?.template.spec);
  for (const j of (await cluster.batch.listJobForAllNamespaces()).items) add('Job', j.metadata, j.spec?.template.spec);
  for (const c of (await cluster.batch.listCronJobForAllNamespaces()).items) add('CronJob', c.metadata, c.spec?.jobTemplate.spec?.template.spec);
  for (const p of (await cluster.core.listPodForAllNamespaces()).items) add('Pod', p.metadata, p.spec);
  return found;
}



/** Charts named by HelmCharts whose source is an OCI HelmRepository. */
async function ociCharts(cluster: KubeCluster): Promise<Array<[string, string]>> {
  const repos = await listFluxAll(cluster, 'helmrepositories');
  const found: Array<[string, string]> = [];
  for (const chart of await listFluxAll(cluster, 'helmcharts')) {
    if (chart.spec.sourceRef?.kind !== 'HelmRepository') continue;
    const repo = repos.find((r) => r.metadata.namespace === chart.metadata.namespace && r.metadata.name === chart.spec.sourceRef?.name);
    if (repo?.spec.type !== 'oci' || !repo.spec.url?.startsWith('oci://') || !chart.spec.chart || !chart.spec.version) continue;
    found.push([`${repo.spec.url.slice('oci://'.length).replace(/\/+$/, '')}/${chart.spec.chart}:${chart.spec.version}`, `HelmChart ${chart.metadata.namespace}/${chart.metadata.name}`]);
  }
  return found;
}

export async function collectArtifacts(cluster: KubeCluster, values: Values): Promise<ArtifactInventory> {
  const rows = values.harbor.hostProjects;
  const localHosts = new Set([new URL(values.sovereign.harborInternalURL).host, new URL(values.sovereign.harborPublicURL).host]);
  const byRef = new Map<string, Artifact>();
  const add = (kind: Artifact['kind'], text: string, where: string) => {
    const ref = parseImageRef(text);
    if (localHosts.has(ref.host)) return; // already local
    const key = formatImageRef(ref);
    const entry = byRef.get(key) ?? { kind, ref, foundIn: [] };
    if (!entry.foundIn.includes(where)) entry.foundIn.push(where);
    byRef.set(key, entry);
  };
  for (const path of values.prewarm.images) {
    const [project, ...rest] = path.split('/');
    const row = rows.find((r) => r.project === project);
    add('image', row ? `${row.host}/${rest.join('/')}` : path, 'values prewarm.images');
  }
  // The cutover's own image runs the node agent and canaries after the pivot: it must be local too.
  add('image', values.images.cutover, 'values images.cutover');
  for (const [image, where] of await workloadImages(cluster)) add('image', image, where);
  for (const [chart, where] of await ociCharts(cluster)) add('chart', chart, where);
  const mapped: MappedArtifact[] = [];
  const unmapped: Artifact[] = [];
  for (const artifact of byRef.values()) {
    const row = rows.find((r) => r.host === artifact.ref.host);
    if (row) mapped.push({ ...artifact, row, localRepo: `${row.project}/${artifact.ref.path}` });
    else unmapped.push(artifact);
  }
  return { mapped, unmapped };
}
