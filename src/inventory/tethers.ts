// The tether inventory: every reference to an upstream host in the live cluster — where it is
// (object and field path), what it names, the local target the host table maps it to, and whether
// it is already pivoted. Each place it looks is a source (./sources/); the scope picks which run.
import type { KubeCluster } from '../adapters/kube/cluster.ts';
import type { Tether, TetherState, TetherSummary } from '../core/tether.ts';
import type { Values } from '../core/values.ts';
import { exemptionOf } from './exemptions.ts';
import { ImageTethers, type NodeRoutes, type PresentLocally, type ResolveDigest } from './image-tethers.ts';
import { configMapSource } from './sources/config-maps.ts';
import { crossplaneProviderSource } from './sources/crossplane-providers.ts';
import { fluxChartSource, fluxSource } from './sources/flux.ts';
import { nodeRegistries, readNodeRoutes } from './sources/node-registries.ts';
import { pullSecretSource } from './sources/pull-secrets.ts';
import { sourceReads, type SourceContext, type TetherSource } from './sources/source.ts';
import { workloadSource } from './sources/workloads.ts';
import { upstreamHosts, type UpstreamHosts } from './upstream-hosts.ts';

export type { Tether, TetherKind, TetherState, TetherSummary } from '../core/tether.ts';
export { digestResolver } from './image-tethers.ts';

export interface InventoryOptions {
  /** `artifacts`: only what names an artifact to have locally (images, provider packages, charts) — prewarm's view. */
  scope?: 'all' | 'artifacts';
  /** Read dockerconfigjson Secrets cluster-wide (an operator's CLI may; the API's runner does not). */
  secrets: boolean;
  /** Resolves an image tag to its digest (undefined when it cannot); cached by the inventory. */
  resolveDigest?: ResolveDigest;
  /** Is this image complete in the local Harbor (for the pivoted state)? */
  presentLocally?: PresentLocally;
}

/** Everything: images and env of workloads, ConfigMaps, Flux, providers, pull Secrets, node routes. */
const everySource = (routes: NodeRoutes, secrets: boolean): TetherSource[] => [
  workloadSource({ env: true }),
  configMapSource,
  fluxSource,
  crossplaneProviderSource,
  ...(secrets ? [pullSecretSource] : []),
  nodeRegistries(routes),
];

/** Prewarm's view: what names an artifact to have locally — images, provider packages, OCI charts. */
const artifactSources: TetherSource[] = [workloadSource({ env: false }), fluxChartSource, crossplaneProviderSource];

export class TetherInventory {
  readonly #cluster: KubeCluster;
  readonly #values: Values;
  readonly #hosts: UpstreamHosts;
  readonly #options: InventoryOptions;
  readonly tethers: Tether[] = [];
  readonly unreadable: string[] = [];

  constructor(cluster: KubeCluster, values: Values, options: InventoryOptions) {
    this.#cluster = cluster;
    this.#values = values;
    this.#hosts = upstreamHosts(values);
    this.#options = options;
  }

  async collect(statusNamespace: string): Promise<Tether[]> {
    const reads = sourceReads(this.unreadable);
    const everything = this.#options.scope !== 'artifacts';
    // Node reports first: an image is pivoted only when every node routes its host locally. Prewarm's
    // view has no node rows, and its images are never pivoted.
    const routes: NodeRoutes = everything
      ? await readNodeRoutes({ cluster: this.#cluster, values: this.#values, ...reads }, statusNamespace)
      : new Map();
    const ctx: SourceContext = {
      cluster: this.#cluster,
      values: this.#values,
      hosts: this.#hosts,
      images: new ImageTethers(this.#hosts, routes, this.#options),
      rolloutHistory: new Map(),
      ...reads,
    };
    const sources = everything ? everySource(routes, this.#options.secrets) : artifactSources;
    for (const found of await Promise.all(sources.map((s) => s.collect(ctx)))) this.tethers.push(...found);
    for (const t of this.tethers) {
      const reason = exemptionOf(t, ctx.rolloutHistory, this.#values.tethers.exempt);
      if (reason === undefined) continue;
      t.state = 'exempt';
      t.reason = reason;
    }
    this.tethers.sort(
      (a, b) => a.kind.localeCompare(b.kind) || a.object.localeCompare(b.object) || a.field.localeCompare(b.field),
    );
    return this.tethers;
  }

  summary(): TetherSummary {
    const count = (state: TetherState) => this.tethers.filter((t) => t.state === state).length;
    return {
      tethered: count('tethered'),
      unmapped: count('unmapped'),
      pivoted: count('pivoted'),
      exempt: count('exempt'),
      unreadable: [...this.unreadable],
    };
  }
}
