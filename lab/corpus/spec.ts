// What the lab's upstream registries hold. One table, two sizes: `small` keeps tests quick,
// `bench` makes about 500 MB of unique layer bytes for benchmarks.

import { VERSION } from '../../src/core/version.ts';

export type UpstreamName = 'ghcr' | 'docker' | 'quay';
export type CorpusSize = 'small' | 'bench';

export interface LayerSpec {
  /** Layers with the same name are byte-identical wherever they appear (shared base layers). */
  name: string;
  bytes: number;
}

export interface ImageSpec {
  kind: 'image';
  upstream: UpstreamName;
  repo: string;
  tag: string;
  format: 'oci' | 'docker';
  /** More than one platform makes an index (OCI) or manifest list (Docker). */
  platforms: Array<'amd64' | 'arm64'>;
  layers: LayerSpec[];
}

export interface ChartSpec {
  kind: 'chart';
  upstream: UpstreamName;
  repo: string;
  name: string;
  version: string;
  /** The image of the Deployment the chart renders (its default values); none: only a marker ConfigMap. */
  image?: ChartImage;
}

/** An image of this corpus, as a chart's values name it on its upstream's host. */
export interface ChartImage {
  upstream: UpstreamName;
  repo: string;
  tag: string;
}

export type ArtifactSpec = ImageSpec | ChartSpec;

/** The org that owns every chart on the ghcr stand-in, as `oci://ghcr.io/openova-io`. */
export const CHART_ORG = 'openova-io';

interface Chart {
  name: string;
  version: string;
  image?: ChartImage;
}

const CERT_MANAGER_IMAGE: ChartImage = { upstream: 'quay', repo: 'jetstack/cert-manager-controller', tag: 'v1.16.1' };

/** Charts the lab's GitOps repo references (bootstrap-kit HelmRepositories; HelmReleases install them). */
export const CHARTS: Chart[] = [
  { name: 'bp-cilium', version: '1.16.5' },
  { name: 'bp-cert-manager', version: '1.16.1', image: CERT_MANAGER_IMAGE },
  { name: 'bp-flux', version: '2.4.0', image: { upstream: 'ghcr', repo: 'fluxcd/source-controller', tag: 'v1.4.1' } },
  { name: 'bp-gitea', version: '1.22.3' },
  { name: 'bp-harbor', version: '1.16.0' },
  {
    name: 'bp-catalyst-platform',
    version: '0.9.2',
    image: { upstream: 'docker', repo: 'grafana/grafana', tag: '11.4.0' },
  },
  { name: 'bp-self-sovereign-cutover', version: '0.1.14' },
];

/** A chart version upstream publishes that Git does not name yet: the Day-2 bump a test makes in Git. */
export const NEXT_CHART: Chart = { name: 'bp-cert-manager', version: '1.16.2', image: CERT_MANAGER_IMAGE };

/** The project's own image on the ghcr stand-in; the lab kubelet runs it as the local CLI. */
export const PROJECT_IMAGE = { repo: 'openova-io/sovereign-cutover', tag: VERSION };

const KiB = 1024;
const MiB = 1024 * KiB;

export function corpusSpec(size: CorpusSize): ArtifactSpec[] {
  // bench: ~3 × 60 MiB shared bases + ~20 images × ~16 MiB unique ≈ 500 MB unique.
  const base = size === 'small' ? 192 * KiB : 60 * MiB;
  const unique = size === 'small' ? 48 * KiB : 16 * MiB;
  const debian = { name: 'debian-base', bytes: base };
  const alpine = { name: 'alpine-base', bytes: Math.round(base / 4) };
  const distroless = { name: 'distroless-base', bytes: Math.round(base / 2) };
  const images: ImageSpec[] = [
    img('ghcr', 'openova-io/catalyst-api', '1.0.0', 'oci', ['amd64'], [debian, u('catalyst-api', unique)]),
    img('ghcr', 'openova-io/catalyst-ui', '1.0.0', 'oci', ['amd64'], [debian, u('catalyst-ui', unique)]),
    img('ghcr', 'openova-io/node-agent', '0.3.0', 'oci', ['amd64', 'arm64'], [alpine, u('node-agent', unique)]),
    img(
      'ghcr',
      'fluxcd/source-controller',
      'v1.4.1',
      'oci',
      ['amd64', 'arm64'],
      [distroless, u('source-controller', unique)],
    ),
    img(
      'ghcr',
      PROJECT_IMAGE.repo,
      PROJECT_IMAGE.tag,
      'oci',
      ['amd64', 'arm64'],
      [alpine, u('sovereign-cutover', unique)],
    ),
    img('ghcr', 'fluxcd/helm-controller', 'v1.1.0', 'oci', ['amd64'], [distroless, u('helm-controller', unique)]),
    img('docker', 'library/alpine', '3.20', 'docker', ['amd64'], [alpine]),
    img('docker', 'library/redis', '7', 'docker', ['amd64'], [debian, u('redis', unique)]),
    img('docker', 'library/postgres', '16', 'docker', ['amd64', 'arm64'], [debian, u('postgres', unique)]),
    img('docker', 'grafana/grafana', '11.4.0', 'oci', ['amd64'], [alpine, u('grafana', unique)]),
    img('docker', 'grafana/loki', '3.3.2', 'docker', ['amd64'], [alpine, u('loki', unique)]),
    img('quay', 'cilium/cilium', 'v1.16.5', 'oci', ['amd64', 'arm64'], [debian, u('cilium', unique)]),
    img(
      'quay',
      'jetstack/cert-manager-controller',
      'v1.16.1',
      'docker',
      ['amd64'],
      [distroless, u('cert-manager', unique)],
    ),
    img('quay', 'kyverno/kyverno', 'v1.13.4', 'oci', ['amd64'], [distroless, u('kyverno', unique)]),
  ];
  if (size === 'bench') {
    for (let i = 0; i < 8; i++) {
      images.push(
        img(
          'ghcr',
          `openova-io/workload-${i}`,
          '1.0.0',
          'oci',
          ['amd64'],
          [i % 2 ? debian : distroless, u(`workload-${i}`, unique)],
        ),
      );
    }
  }
  const charts: ChartSpec[] = [...CHARTS, NEXT_CHART].map((c) => ({
    kind: 'chart',
    upstream: 'ghcr',
    repo: `${CHART_ORG}/${c.name}`,
    name: c.name,
    version: c.version,
    ...(c.image ? { image: c.image } : {}),
  }));
  return [...images, ...charts];
}

function img(
  upstream: UpstreamName,
  repo: string,
  tag: string,
  format: 'oci' | 'docker',
  platforms: ImageSpec['platforms'],
  layers: LayerSpec[],
): ImageSpec {
  return { kind: 'image', upstream, repo, tag, format, platforms, layers };
}

function u(name: string, bytes: number): LayerSpec {
  return { name: `${name}-app`, bytes };
}
