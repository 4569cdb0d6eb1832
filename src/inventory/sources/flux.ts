// Flux: sources (Git, Helm, OCI, Bucket) whose URL names an upstream host, the HelmCharts and
// HelmReleases that pull through them — or, in prewarm's view, only the OCI charts to copy.
import { withOwner } from '../owners.ts';
import { kubeStatus } from '../../adapters/kube/cluster.ts';
import type { Tether, TetherKind } from '../../core/tether.ts';
import { urlTether } from '../upstream-hosts.ts';
import type { SourceContext, TetherSource } from './source.ts';

interface Metadata {
  namespace: string;
  name: string;
  generation?: number;
  labels?: Record<string, string>;
}

interface FluxSourceObject {
  metadata: Metadata;
  spec: { url?: string; endpoint?: string; ref?: { tag?: string; semver?: string; digest?: string } };
  status?: { observedGeneration?: number; artifact?: { revision?: string } };
}

interface HelmChart {
  metadata: Metadata;
  spec: { sourceRef?: { kind?: string; name?: string }; chart?: string; version?: string };
  status?: { observedGeneration?: number; artifact?: { revision?: string } };
}

interface HelmRelease {
  metadata: Metadata;
  spec: {
    chartRef?: { kind?: string; name?: string; namespace?: string };
    chart?: { spec?: { chart?: string; sourceRef?: { kind?: string; name?: string; namespace?: string } } };
  };
}

/** Every object of a Flux kind; the GA version first, as clusters on older Flux serve only the beta one. */
function listFlux<T>(
  ctx: SourceContext,
  plural: string,
  group = 'source.toolkit.fluxcd.io',
  versions = ['v1', 'v1beta2'],
): Promise<T[]> {
  return ctx.list<T>(`${plural}.${group}`, async () => {
    for (const [i, version] of versions.entries()) {
      try {
        // The custom objects API answers untyped; each kind is read for the fields above only.
        return (await ctx.cluster.custom.listClusterCustomObject({ group, version, plural })) as { items: T[] };
      } catch (error) {
        if (kubeStatus(error) !== 404 || i === versions.length - 1) throw error;
      }
    }
    return { items: [] };
  });
}

interface UpstreamSource {
  /** `Kind/namespace/name`, as a sourceRef names it. */
  key: string;
  /** `Kind namespace/name`, as a row shows it. */
  object: string;
  url: string;
  source: FluxSourceObject;
}

/** The sources of one kind whose URL names an upstream host. Suspended ones count: resumed, they pull again. */
function upstreamSources(
  ctx: SourceContext,
  kind: string,
  items: FluxSourceObject[],
  url: (spec: FluxSourceObject['spec']) => string | undefined,
  /** A Bucket's endpoint is a bare host[:port]; every other source's URL has a scheme. */
  bare = false,
): UpstreamSource[] {
  const found: UpstreamSource[] = [];
  for (const o of items) {
    const u = url(o.spec) ?? '';
    const host = /^[a-z]+:\/\/(?:[^@/]+@)?([^/]+)/.exec(u)?.[1] ?? (bare ? u : '');
    if (!host || !ctx.hosts.upstream.has(host)) continue;
    const { namespace, name } = o.metadata;
    found.push({ key: `${kind}/${namespace}/${name}`, object: `${kind} ${namespace}/${name}`, url: u, source: o });
  }
  return found;
}

/** Source key → URL, for the charts and releases that pull through an upstream source. */
const byKey = (sources: UpstreamSource[]) => new Map(sources.map((s) => [s.key, s.url]));

const chartSource = (c: HelmChart) => `${c.spec.sourceRef?.kind}/${c.metadata.namespace}/${c.spec.sourceRef?.name}`;
const chartURL = (from: string, c: HelmChart, version: string | undefined) =>
  `${from.replace(/\/+$/, '')}/${c.spec.chart}:${version ?? c.spec.version ?? '*'}`;

/**
 * The chart version a HelmChart pulls: `spec.version` when it names one exactly; for a range (or
 * none: Flux's `*`) the version Flux resolved it to, from a status that is current.
 */
export function chartVersion(chart: HelmChart): string | undefined {
  const wanted = chart.spec.version;
  if (wanted && /^v?\d+\.\d+\.\d+(?:-[0-9A-Za-z.-]+)?(?:\+[0-9A-Za-z.-]+)?$/.test(wanted)) return wanted;
  const revision = chart.status?.artifact?.revision;
  if (!revision || chart.status?.observedGeneration !== chart.metadata.generation) return undefined;
  return revision.split('@')[0];
}

/** Every Flux source naming an upstream host, and the HelmCharts and HelmReleases pulling through one. */
export const fluxSource: TetherSource = {
  name: 'Flux sources, HelmCharts and HelmReleases',
  async collect(ctx) {
    const [git, helm, oci, buckets, charts, releases] = await Promise.all([
      listFlux<FluxSourceObject>(ctx, 'gitrepositories'),
      listFlux<FluxSourceObject>(ctx, 'helmrepositories'),
      listFlux<FluxSourceObject>(ctx, 'ocirepositories'),
      listFlux<FluxSourceObject>(ctx, 'buckets'),
      listFlux<HelmChart>(ctx, 'helmcharts'),
      listFlux<HelmRelease>(ctx, 'helmreleases', 'helm.toolkit.fluxcd.io', ['v2', 'v2beta2']),
    ]);
    const tethers: Tether[] = [];
    const sources = (kind: TetherKind, found: UpstreamSource[], field: string) => {
      for (const s of found)
        tethers.push(...withOwner([urlTether(ctx.hosts, kind, s.object, field, s.url)], s.source.metadata.labels));
      return found;
    };
    const tethered = byKey([
      ...sources(
        'git-repository',
        upstreamSources(ctx, 'GitRepository', git, (s) => s.url),
        'spec.url',
      ),
      ...sources(
        'helm-repository',
        upstreamSources(ctx, 'HelmRepository', helm, (s) => s.url),
        'spec.url',
      ),
      ...sources(
        'oci-repository',
        upstreamSources(ctx, 'OCIRepository', oci, (s) => s.url),
        'spec.url',
      ),
      ...sources(
        'bucket',
        upstreamSources(ctx, 'Bucket', buckets, (s) => s.endpoint, true),
        'spec.endpoint',
      ),
    ]);
    for (const c of charts) {
      const from = tethered.get(chartSource(c));
      if (!from) continue;
      const object = `HelmChart ${c.metadata.namespace}/${c.metadata.name}`;
      tethers.push(urlTether(ctx.hosts, 'helm-chart', object, 'spec.sourceRef', chartURL(from, c, chartVersion(c))));
    }
    for (const r of releases) {
      const ref = r.spec.chartRef ?? r.spec.chart?.spec?.sourceRef;
      const from = tethered.get(`${ref?.kind}/${ref?.namespace ?? r.metadata.namespace}/${ref?.name}`);
      if (!from) continue;
      const chart = r.spec.chart?.spec?.chart;
      tethers.push(
        urlTether(
          ctx.hosts,
          'helm-release',
          `HelmRelease ${r.metadata.namespace}/${r.metadata.name}`,
          r.spec.chartRef ? 'spec.chartRef' : 'spec.chart.spec.sourceRef',
          chart ? `${from.replace(/\/+$/, '')}/${chart}` : from,
        ),
      );
    }
    return tethers;
  },
};

/**
 * The artifact an OCIRepository pulls: its digest when pinned, else the tag; for a semver range the
 * tag Flux resolved (`<tag>@sha256:…` in a current status). Flux's default is `latest`.
 */
export function ociArtifactURL(o: FluxSourceObject): string | undefined {
  const url = (o.spec.url ?? '').replace(/\/+$/, '');
  const ref = o.spec.ref ?? {};
  if (ref.digest) return `${url}@${ref.digest}`;
  if (ref.tag && !ref.semver) return `${url}:${ref.tag}`;
  if (!ref.semver) return `${url}:latest`;
  const revision = o.status?.artifact?.revision;
  if (!revision || o.status?.observedGeneration !== o.metadata.generation) return undefined;
  return `${url}:${revision.split('@')[0]}`;
}

/**
 * Prewarm's view: the charts to copy — those of HelmCharts pulling through an upstream OCI
 * HelmRepository (an HTTP Helm repository serves an index, not OCI), at the exact version they pull
 * — and the artifact each upstream OCIRepository pulls. The other sources are no artifacts.
 */
export const fluxChartSource: TetherSource = {
  name: 'Flux OCI charts',
  async collect(ctx) {
    const [helm, charts, oci] = await Promise.all([
      listFlux<FluxSourceObject>(ctx, 'helmrepositories'),
      listFlux<HelmChart>(ctx, 'helmcharts'),
      listFlux<FluxSourceObject>(ctx, 'ocirepositories'),
    ]);
    const tethered = byKey(upstreamSources(ctx, 'HelmRepository', helm, (s) => s.url));
    const tethers: Tether[] = [];
    for (const c of charts) {
      const from = tethered.get(chartSource(c));
      if (!from?.startsWith('oci://')) continue;
      const object = `HelmChart ${c.metadata.namespace}/${c.metadata.name}`;
      const version = chartVersion(c);
      if (!version) {
        ctx.cannotRead(
          object,
          `version "${c.spec.version ?? '*'}" is a range Flux has not resolved yet (no current status.artifact.revision)`,
        );
        continue;
      }
      tethers.push(urlTether(ctx.hosts, 'helm-chart', object, 'spec.sourceRef', chartURL(from, c, version)));
    }
    for (const found of upstreamSources(ctx, 'OCIRepository', oci, (spec) => spec.url)) {
      const artifact = ociArtifactURL(found.source);
      if (!artifact) {
        ctx.cannotRead(found.object, 'a semver range Flux has not resolved yet (no current status.artifact.revision)');
        continue;
      }
      tethers.push(urlTether(ctx.hosts, 'oci-repository', found.object, 'spec.url', artifact));
    }
    return tethers;
  },
};
