// The tether inventory: every reference to an upstream host in the live cluster — where it is
// (object and field path), what it names, the local target the host table maps it to, and whether
// it is already pivoted. Sources: images of Pods and every workload template (init, ephemeral,
// image volumes), env vars and ConfigMap values naming an upstream URL, Flux sources (Git, Helm,
// OCI, Bucket), HelmCharts and HelmReleases that pull through them, Crossplane Provider packages,
// dockerconfigjson pull Secrets, and each node's registry routes as its agent reports them.
import type { V1Container, V1PodSpec } from '@kubernetes/client-node';
import { kubeStatus, type KubeCluster } from '../adapters/kube/cluster.ts';
import type { DistributionClient } from '../adapters/oci/distribution-client.ts';
import { redactUrl, withoutCredentials } from '../core/errors.ts';
import { nodeRegistryKey } from '../core/contracts.ts';
import type { HostProject, TetherKind, Values } from '../core/values.ts';
import { formatImageRef, parseImageRef, reference } from '../core/image-ref.ts';

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
}

export interface TetherSummary {
  tethered: number;
  unmapped: number;
  pivoted: number;
  exempt: number;
  /** Sources the inventory could not read (a missing CRD is not one; a 403 is). */
  unreadable: string[];
}

export interface InventoryOptions {
  /** `artifacts`: only what names an artifact to have locally (images, provider packages, charts) — prewarm's view. */
  scope?: 'all' | 'artifacts';
  /** Read dockerconfigjson Secrets cluster-wide (an operator's CLI may; the API's runner does not). */
  secrets: boolean;
  /** Resolves an image tag to its digest (undefined when it cannot); cached by the inventory. */
  resolveDigest?: (ref: string, row: HostProject | undefined) => Promise<string | undefined>;
  /** Is this image complete in the local Harbor (for the pivoted state)? */
  presentLocally?: (ref: string, localRepo: string) => Promise<boolean>;
}

interface Hosts {
  upstream: Set<string>;
  local: Set<string>;
  rows: HostProject[];
  harbor: string;
  gitea: string;
}

function hostsOf(values: Values): Hosts {
  const host = (url: string) => (url ? new URL(url).host : '');
  const upstream = new Set<string>(values.harbor.hostProjects.map((r) => r.host));
  for (const url of [
    values.upstream.repoURL,
    values.upstream.mothershipHarborURL,
    values.helmRepositories.upstreamPrefix.replace(/^oci:\/\//, 'https://'),
  ])
    if (url) upstream.add(host(url));
  for (const d of values.egressTest.blockedDomains) upstream.add(d);
  const local = new Set(
    [
      host(values.sovereign.harborInternalURL),
      host(values.sovereign.harborPublicURL),
      host(values.sovereign.giteaInternalURL),
      host(values.sovereign.giteaPublicURL),
    ].filter(Boolean),
  );
  for (const h of local) upstream.delete(h);
  return {
    upstream,
    local,
    rows: values.harbor.hostProjects,
    harbor: host(values.sovereign.harborPublicURL),
    gitea: values.sovereign.giteaInternalURL.replace(/\/+$/, ''),
  };
}

/** Upstream URLs in free text (env values, ConfigMap data): scheme://host… of a configured upstream host. */
function upstreamURLs(text: string, hosts: Hosts): string[] {
  const found: string[] = [];
  for (const m of text.matchAll(/\b(?:https?|oci|git|ssh):\/\/(?:[^@/\s"']+@)?([^/\s"':]+(?::\d+)?)[^\s"'<>]*/g)) {
    if (hosts.upstream.has(m[1] as string)) found.push(m[0]);
  }
  return found;
}

type Kind = 'Pod' | 'Deployment' | 'StatefulSet' | 'DaemonSet' | 'ReplicaSet' | 'Job' | 'CronJob';

export class TetherInventory {
  readonly #cluster: KubeCluster;
  readonly #values: Values;
  readonly #hosts: Hosts;
  readonly #options: InventoryOptions;
  readonly #digests = new Map<string, Promise<string | undefined>>();
  readonly #nodeRoutes = new Map<string, Record<string, string>>();
  /** ReplicaSets a Deployment keeps at zero replicas as rollout history → that Deployment. */
  readonly #history = new Map<string, string>();
  readonly tethers: Tether[] = [];
  readonly unreadable: string[] = [];

  constructor(cluster: KubeCluster, values: Values, options: InventoryOptions) {
    this.#cluster = cluster;
    this.#values = values;
    this.#hosts = hostsOf(values);
    this.#options = options;
  }

  async collect(statusNamespace: string): Promise<Tether[]> {
    const all = this.#options.scope !== 'artifacts';
    if (all) await this.#readNodeRoutes(statusNamespace);
    await Promise.all([
      this.#workloads(),
      all ? this.#configMaps() : undefined,
      this.#flux(),
      this.#crossplane(),
      all && this.#options.secrets ? this.#pullSecrets() : undefined,
    ]);
    if (all) this.#nodeRegistries();
    for (const t of this.tethers) this.#exempt(t);
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

  /** Lists a source; a missing API (CRD not installed) is no source, any other failure is reported. */
  async #list<T>(what: string, list: () => Promise<{ items: T[] }>): Promise<T[]> {
    try {
      return (await list()).items;
    } catch (error) {
      if (kubeStatus(error) !== 404) this.#cannotRead(what, error);
      return [];
    }
  }

  #cannotRead(what: string, error: unknown): void {
    this.unreadable.push(
      `${what}: ${kubeStatus(error) ? `HTTP ${kubeStatus(error)}` : error instanceof Error ? error.message : String(error)}`,
    );
  }

  async #readNodeRoutes(namespace: string): Promise<void> {
    const cm = await this.#cluster.core
      .readNamespacedConfigMap({ name: this.#values.status.configMapName, namespace })
      .catch((error: unknown) => {
        // No status ConfigMap yet: no agent has reported. Anything else leaves the node rows unknown.
        if (kubeStatus(error) !== 404)
          this.#cannotRead(
            `ConfigMap ${namespace}/${this.#values.status.configMapName} (node registry reports)`,
            error,
          );
        return undefined;
      });
    for (const [key, value] of Object.entries(cm?.data ?? {})) {
      const node = /^node\.(.+)\.registryHosts$/.exec(key)?.[1];
      if (!node || key !== nodeRegistryKey(node)) continue;
      try {
        this.#nodeRoutes.set(node, JSON.parse(value) as Record<string, string>);
      } catch {
        this.unreadable.push(`node ${node}: registry report is not JSON`);
      }
    }
  }

  /** Every reporting node resolves `host` through the local Harbor. */
  #nodesPivoted(host: string): boolean {
    if (!this.#nodeRoutes.size) return false;
    return [...this.#nodeRoutes.values()].every((routes) => (routes[host] ?? '').includes(this.#hosts.harbor));
  }

  async #workloads(): Promise<void> {
    const { core, apps, batch } = this.#cluster;
    const sources: Array<
      [Kind, string, () => Promise<{ items: Array<{ metadata?: { namespace?: string; name?: string }; spec?: any }> }>]
    > = [
      ['Pod', 'spec', () => core.listPodForAllNamespaces()],
      ['Deployment', 'spec.template.spec', () => apps.listDeploymentForAllNamespaces()],
      ['StatefulSet', 'spec.template.spec', () => apps.listStatefulSetForAllNamespaces()],
      ['DaemonSet', 'spec.template.spec', () => apps.listDaemonSetForAllNamespaces()],
      ['ReplicaSet', 'spec.template.spec', () => apps.listReplicaSetForAllNamespaces()],
      ['Job', 'spec.template.spec', () => batch.listJobForAllNamespaces()],
      ['CronJob', 'spec.jobTemplate.spec.template.spec', () => batch.listCronJobForAllNamespaces()],
    ];
    const work: Array<Promise<void>> = [];
    for (const [kind, prefix, list] of sources) {
      for (const item of await this.#list(kind, list)) {
        const object = `${kind} ${item.metadata?.namespace}/${item.metadata?.name}`;
        const spec = (
          kind === 'Pod'
            ? item.spec
            : kind === 'CronJob'
              ? item.spec?.jobTemplate?.spec?.template?.spec
              : item.spec?.template?.spec
        ) as V1PodSpec | undefined;
        if (spec) work.push(this.#podSpec(object, prefix, spec));
        const owner = (
          item.metadata as { ownerReferences?: Array<{ kind: string; name: string }> } | undefined
        )?.ownerReferences?.find((o) => o.kind === 'Deployment');
        if (kind === 'ReplicaSet' && owner && item.spec?.replicas === 0)
          this.#history.set(object, `Deployment ${item.metadata?.namespace}/${owner.name}`);
      }
    }
    await Promise.all(work);
  }

  async #podSpec(object: string, prefix: string, spec: V1PodSpec): Promise<void> {
    const groups: Array<[string, V1Container[] | undefined]> = [
      ['initContainers', spec.initContainers],
      ['containers', spec.containers],
      ['ephemeralContainers', spec.ephemeralContainers as V1Container[] | undefined],
    ];
    const work: Array<Promise<void>> = [];
    for (const [group, containers] of groups) {
      for (const [i, c] of (containers ?? []).entries()) {
        if (c.image) work.push(this.#image(object, `${prefix}.${group}[${i}].image`, c.image, 'image'));
        if (this.#options.scope === 'artifacts') continue;
        for (const [j, env] of (c.env ?? []).entries()) {
          for (const url of upstreamURLs(env.value ?? '', this.#hosts))
            this.#url('env', object, `${prefix}.${group}[${i}].env[${j}].value`, url);
        }
      }
    }
    for (const [i, v] of (spec.volumes ?? []).entries()) {
      const image = (v as { image?: { reference?: string } }).image?.reference;
      if (image) work.push(this.#image(object, `${prefix}.volumes[${i}].image.reference`, image, 'image'));
    }
    await Promise.all(work);
  }

  /** An image reference: normalised, mapped, digest-resolved, pivoted when nodes route it locally and it is there. */
  async #image(object: string, field: string, text: string, kind: TetherKind): Promise<void> {
    const ref = parseImageRef(text);
    if (this.#hosts.local.has(ref.host)) return;
    const upstream = formatImageRef(ref);
    const row = this.#hosts.rows.find((r) => r.host === ref.host);
    const local = row
      ? `${this.#hosts.harbor}/${row.project}/${ref.path}${ref.digest ? `@${ref.digest}` : `:${ref.tag ?? 'latest'}`}`
      : '';
    const digest = ref.digest ?? (await this.#digest(upstream, row));
    let state: TetherState = row ? 'tethered' : 'unmapped';
    if (row && this.#nodesPivoted(ref.host) && (await this.#present(ref, row))) state = 'pivoted';
    this.tethers.push({ kind, object, field, upstream, digest: digest ?? '', local, state });
  }

  #digest(ref: string, row: HostProject | undefined): Promise<string | undefined> {
    const resolve = this.#options.resolveDigest;
    if (!resolve) return Promise.resolve(undefined);
    let d = this.#digests.get(ref);
    if (!d) {
      d = resolve(ref, row).catch(() => undefined);
      this.#digests.set(ref, d);
    }
    return d;
  }

  readonly #presence = new Map<string, Promise<boolean>>();
  #present(ref: ReturnType<typeof parseImageRef>, row: HostProject): Promise<boolean> {
    const check = this.#options.presentLocally;
    if (!check) return Promise.resolve(true);
    const key = `${row.project}/${ref.path}@${reference(ref)}`;
    let p = this.#presence.get(key);
    if (!p) {
      p = check(reference(ref), `${row.project}/${ref.path}`).catch(() => false);
      this.#presence.set(key, p);
    }
    return p;
  }

  /**
   * A URL that names an upstream host; the local target when the table knows one. Credentials in
   * the URL (`https://user:token@github.com/…`) never reach a row: shown as `***`, ignored for the map.
   */
  #url(kind: TetherKind, object: string, field: string, url: string, exempt?: string): void {
    this.tethers.push({
      kind,
      object,
      field,
      upstream: redactUrl(url),
      local: this.#localFor(url),
      state: exempt ? 'exempt' : 'tethered',
      ...(exempt ? { reason: exempt } : {}),
    });
  }

  #localFor(withCredentials: string): string {
    const url = withoutCredentials(withCredentials);
    const values = this.#values;
    if (url.replace(/\.git$/, '') === values.upstream.repoURL.replace(/\.git$/, ''))
      return `${this.#hosts.gitea}/${values.gitea.org}/${values.gitea.repo}`;
    const m = /^(oci|https?):\/\/([^/]+)\/?(.*)$/.exec(url);
    const row = m ? this.#hosts.rows.find((r) => r.host === m[2]) : undefined;
    return row && m ? `oci://${this.#hosts.harbor}/${row.project}${m[3] ? `/${m[3]}` : ''}` : '';
  }

  async #configMaps(): Promise<void> {
    for (const cm of await this.#list('ConfigMaps', () => this.#cluster.core.listConfigMapForAllNamespaces())) {
      const object = `ConfigMap ${cm.metadata?.namespace}/${cm.metadata?.name}`;
      const own = cm.metadata?.labels?.['app.kubernetes.io/part-of'] === 'self-sovereign-cutover';
      for (const [key, value] of Object.entries(cm.data ?? {})) {
        for (const url of upstreamURLs(value, this.#hosts))
          this.#url(
            'configmap',
            object,
            `data[${JSON.stringify(key)}]`,
            url,
            own ? "the cutover's own configuration names its upstreams" : undefined,
          );
      }
    }
  }

  async #flux(): Promise<void> {
    // The GA version first; clusters on older Flux serve only the beta one.
    const list = (plural: string, group = 'source.toolkit.fluxcd.io', versions = ['v1', 'v1beta2']) =>
      this.#list<{
        metadata: { namespace: string; name: string; generation?: number };
        spec: Record<string, any>;
        status?: Record<string, any>;
      }>(`${plural}.${group}`, async () => {
        for (const [i, version] of versions.entries()) {
          try {
            return (await this.#cluster.custom.listClusterCustomObject({ group, version, plural })) as { items: any[] };
          } catch (error) {
            if (kubeStatus(error) !== 404 || i === versions.length - 1) throw error;
          }
        }
        return { items: [] };
      });
    const all = this.#options.scope !== 'artifacts';
    const none = async () => [];
    const [git, helm, oci, buckets, charts, releases] = await Promise.all([
      all ? list('gitrepositories') : none(),
      list('helmrepositories'),
      all ? list('ocirepositories') : none(),
      all ? list('buckets') : none(),
      list('helmcharts'),
      all ? list('helmreleases', 'helm.toolkit.fluxcd.io', ['v2', 'v2beta2']) : none(),
    ]);
    const tethered = new Map<string, string>();
    const source = (
      kind: TetherKind,
      k: string,
      items: typeof git,
      field: string,
      url: (s: Record<string, any>) => string | undefined,
    ) => {
      for (const o of items) {
        const u = url(o.spec) ?? '';
        const host = /^[a-z]+:\/\/(?:[^@/]+@)?([^/]+)/.exec(u)?.[1] ?? (kind === 'bucket' ? u : '');
        // Suspended sources count: resumed after the cutover, they would pull from upstream again.
        if (!host || !this.#hosts.upstream.has(host)) continue;
        tethered.set(`${k}/${o.metadata.namespace}/${o.metadata.name}`, u);
        // Prewarm's view has no use for the sources themselves, only for the charts they serve.
        if (this.#options.scope !== 'artifacts')
          this.#url(kind, `${k} ${o.metadata.namespace}/${o.metadata.name}`, field, u);
      }
    };
    source('git-repository', 'GitRepository', git, 'spec.url', (s) => s.url);
    source('helm-repository', 'HelmRepository', helm, 'spec.url', (s) => s.url);
    source('oci-repository', 'OCIRepository', oci, 'spec.url', (s) => s.url);
    source('bucket', 'Bucket', buckets, 'spec.endpoint', (s) => s.endpoint);
    for (const c of charts) {
      const from = tethered.get(`${c.spec.sourceRef?.kind}/${c.metadata.namespace}/${c.spec.sourceRef?.name}`);
      if (!from) continue;
      const object = `HelmChart ${c.metadata.namespace}/${c.metadata.name}`;
      const version = chartVersion(c);
      if (this.#options.scope === 'artifacts') {
        // Only OCI charts are artifacts to copy (an HTTP Helm repository serves an index, not OCI).
        if (!from.startsWith('oci://')) continue;
        if (!version) {
          this.#cannotRead(
            object,
            `version "${c.spec.version ?? '*'}" is a range Flux has not resolved yet (no current status.artifact.revision)`,
          );
          continue;
        }
      }
      this.#url(
        'helm-chart',
        object,
        'spec.sourceRef',
        `${from.replace(/\/+$/, '')}/${c.spec.chart}:${version ?? c.spec.version ?? '*'}`,
      );
    }
    if (this.#options.scope === 'artifacts') return;
    for (const r of releases) {
      const ref = r.spec.chartRef ?? r.spec.chart?.spec?.sourceRef;
      const ns = ref?.namespace ?? r.metadata.namespace;
      const from = tethered.get(`${ref?.kind}/${ns}/${ref?.name}`);
      if (from)
        this.#url(
          'helm-release',
          `HelmRelease ${r.metadata.namespace}/${r.metadata.name}`,
          r.spec.chartRef ? 'spec.chartRef' : 'spec.chart.spec.sourceRef',
          r.spec.chart?.spec?.chart ? `${from.replace(/\/+$/, '')}/${r.spec.chart.spec.chart}` : from,
        );
    }
  }

  async #crossplane(): Promise<void> {
    const providers = await this.#list<{ metadata: { name: string }; spec: { package?: string } }>(
      'providers.pkg.crossplane.io',
      () =>
        this.#cluster.custom.listClusterCustomObject({
          group: 'pkg.crossplane.io',
          version: 'v1',
          plural: 'providers',
        }) as Promise<{ items: any[] }>,
    );
    await Promise.all(
      providers
        .filter((p) => p.spec.package)
        .map((p) =>
          this.#image(`Provider ${p.metadata.name}`, 'spec.package', p.spec.package as string, 'crossplane-package'),
        ),
    );
  }

  async #pullSecrets(): Promise<void> {
    const secrets = await this.#list('Secrets (kubernetes.io/dockerconfigjson)', () =>
      this.#cluster.core.listSecretForAllNamespaces({ fieldSelector: 'type=kubernetes.io/dockerconfigjson' }),
    );
    for (const s of secrets) {
      let auths: Record<string, unknown> = {};
      try {
        auths =
          (
            JSON.parse(Buffer.from(s.data?.['.dockerconfigjson'] ?? '', 'base64').toString('utf8')) as {
              auths?: Record<string, unknown>;
            }
          ).auths ?? {};
      } catch {
        continue;
      }
      for (const key of Object.keys(auths)) {
        const host = key.replace(/^https?:\/\//, '').replace(/\/.*$/, '');
        if (!this.#hosts.upstream.has(host)) continue;
        // Only the host: a credential never reaches a row.
        this.tethers.push({
          kind: 'pull-secret',
          object: `Secret ${s.metadata?.namespace}/${s.metadata?.name}`,
          field: `.dockerconfigjson auths[${JSON.stringify(key)}]`,
          upstream: host,
          local: '',
          state: 'tethered',
        });
      }
    }
  }

  #nodeRegistries(): void {
    for (const [node, routes] of this.#nodeRoutes) {
      for (const [host, endpoint] of Object.entries(routes)) {
        if (endpoint.includes(this.#hosts.harbor)) continue;
        const row = this.#hosts.rows.find((r) => r.host === host);
        this.tethers.push({
          kind: 'node-registry',
          object: `Node ${node}`,
          field: `certs.d/${host}/hosts.toml`,
          upstream: redactUrl(endpoint || host),
          local: row ? `${this.#values.sovereign.harborPublicURL}/v2/${row.project}` : '',
          state: 'tethered',
        });
      }
    }
  }

  /**
   * Exemptions: a Deployment's rollout history (the live template is listed on its own), then the
   * explicit ones from values (`tethers.exempt`), where every given field must match.
   */
  #exempt(t: Tether): void {
    const owner = this.#history.get(t.object);
    if (owner && t.state !== 'pivoted') {
      t.state = 'exempt';
      t.reason = `rollout history of ${owner} (0 replicas; its live template is listed itself)`;
      return;
    }
    for (const rule of this.#values.tethers.exempt) {
      const glob = (pattern: string, text: string) =>
        new RegExp(
          `^${pattern
            .split('*')
            .map((p) => p.replace(/[.+?^${}()|[\]\\]/g, '\\$&'))
            .join('.*')}$`,
        ).test(text);
      if (rule.kind && rule.kind !== t.kind) continue;
      if (rule.object && !glob(rule.object, t.object)) continue;
      if (rule.upstream && !glob(rule.upstream, t.upstream)) continue;
      t.state = 'exempt';
      t.reason = rule.reason;
      return;
    }
  }
}

/**
 * The chart version a HelmChart pulls: `spec.version` when it names one exactly; for a range (or
 * none: Flux's `*`) the version Flux resolved it to, from a status that is current.
 */
function chartVersion(chart: {
  metadata: { generation?: number };
  spec: Record<string, any>;
  status?: { observedGeneration?: number; artifact?: { revision?: string } };
}): string | undefined {
  const wanted = chart.spec.version as string | undefined;
  if (wanted && /^v?\d+\.\d+\.\d+(?:-[0-9A-Za-z.-]+)?(?:\+[0-9A-Za-z.-]+)?$/.test(wanted)) return wanted;
  const revision = chart.status?.artifact?.revision;
  if (!revision || chart.status?.observedGeneration !== chart.metadata.generation) return undefined;
  return revision.split('@')[0];
}

/** Resolves tags through the registries: the local Harbor for what is already there, else upstream. */
export function digestResolver(local: DistributionClient, upstream: (row: HostProject) => DistributionClient) {
  return async (text: string, row: HostProject | undefined): Promise<string | undefined> => {
    const ref = parseImageRef(text);
    if (!row) return undefined;
    const here = await local.headManifest(`${row.project}/${ref.path}`, reference(ref)).catch(() => undefined);
    if (here?.digest) return here.digest;
    return (await upstream(row).headManifest(ref.path, reference(ref)))?.digest;
  };
}
