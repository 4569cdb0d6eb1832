// Every artifact the Sovereign pulls from an upstream host today — the tether inventory's
// artifact rows that are not exempt (images of Pods and every workload template, so scaled-to-zero
// and suspended ones count; provider packages; the charts of OCI HelmRepositories) plus
// `prewarm.images` and the cutover's own image. Each is mapped to its local Harbor project through
// the host table.
import type { KubeCluster } from '../adapters/kube/cluster.ts';
import { CutoverError } from '../core/errors.ts';
import type { HostProject, Values } from '../core/values.ts';
import { TetherInventory } from './tethers.ts';
import { formatImageRef, parseImageRef, type ImageRef } from '../core/image-ref.ts';

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

export async function collectArtifacts(cluster: KubeCluster, values: Values): Promise<ArtifactInventory> {
  const rows = values.harbor.hostProjects;
  const localHosts = new Set([
    new URL(values.sovereign.harborInternalURL).host,
    new URL(values.sovereign.harborPublicURL).host,
  ]);
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
  const inventory = new TetherInventory(cluster, values, { scope: 'artifacts', secrets: false });
  for (const t of await inventory.collect('')) {
    // Exempt: kept upstream on purpose (rollout history, the operator's rules) — nothing to have locally.
    if (t.state === 'exempt') continue;
    // Charts and OCIRepository artifacts are OCI artifacts like images; they are copied the same way.
    if (t.kind === 'helm-chart' || t.kind === 'oci-repository')
      add('chart', t.upstream.replace(/^oci:\/\//, ''), t.object);
    else add('image', t.upstream, t.object);
  }
  // A source prewarm could not read may hold artifacts it would miss: fail now, while egress is open.
  if (inventory.unreadable.length)
    throw new CutoverError(
      'inventory-incomplete',
      `cannot list every artifact in use: ${inventory.unreadable.join('; ')}`,
    );
  return mapArtifacts(byRef.values(), rows);
}

/** Each artifact to its local Harbor project through the host table, or unmapped. */
export function mapArtifacts(artifacts: Iterable<Artifact>, rows: HostProject[]): ArtifactInventory {
  const mapped: MappedArtifact[] = [];
  const unmapped: Artifact[] = [];
  for (const artifact of artifacts) {
    const row = rows.find((r) => r.host === artifact.ref.host);
    if (row) mapped.push({ ...artifact, row, localRepo: `${row.project}/${artifact.ref.path}` });
    else unmapped.push(artifact);
  }
  return { mapped, unmapped };
}
