// Deterministic corpus generator: turns the spec into real, unpackable image and chart
// artifacts (gzip'd tar layers, configs with correct diff_ids, manifests, indexes) whose
// digests are the same on every machine and every run.
import { createCipheriv, createHash } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import { sha256Digest } from '../../src/adapters/oci/digest.ts';
import * as mt from '../../src/adapters/oci/media-types.ts';
import { internetHost, UPSTREAMS } from '../topology.ts';
import type { ArtifactSpec, ChartImage, ChartSpec, ImageSpec, LayerSpec } from './spec.ts';
import { tar } from './tar.ts';

export interface Blob {
  digest: string;
  mediaType: string;
  data: Uint8Array;
}

export interface BuiltManifest {
  digest: string;
  mediaType: string;
  bytes: Uint8Array;
}

export interface BuiltArtifact {
  spec: ArtifactSpec;
  /** Every blob the artifact needs (layers and configs of every platform). */
  blobs: Blob[];
  /** Platform manifests first, the tagged top-level manifest last. */
  manifests: BuiltManifest[];
}

export function topManifest(built: BuiltArtifact): BuiltManifest {
  const top = built.manifests.at(-1);
  if (!top) throw new Error('artifact without manifests');
  return top;
}

/** Deterministic bytes: an AES-CTR keystream keyed by the seed string. */
export function seededBytes(seed: string, length: number): Uint8Array {
  const key = createHash('sha256').update(seed).digest().subarray(0, 16);
  const cipher = createCipheriv('aes-128-ctr', key, Buffer.alloc(16));
  return Buffer.concat([cipher.update(Buffer.alloc(length)), cipher.final()]);
}

export class CorpusGenerator {
  /** Layers are shared across images: generate each (name, arch) once. */
  readonly #layers = new Map<string, { blob: Blob; diffId: string }>();

  build(spec: ArtifactSpec): BuiltArtifact {
    return spec.kind === 'chart' ? this.#chart(spec) : this.#image(spec);
  }

  #layer(layer: LayerSpec, arch: string, docker: boolean): { blob: Blob; diffId: string } {
    const key = `${layer.name}/${arch}/${docker}`;
    const cached = this.#layers.get(key);
    if (cached) return cached;
    const raw = tar([
      { path: `etc/${layer.name}-release`, data: Buffer.from(`name=${layer.name}\narch=${arch}\n`) },
      { path: `opt/${layer.name}/payload.bin`, data: seededBytes(`${layer.name}/${arch}`, layer.bytes) },
    ]);
    const gz = gzipSync(raw, { level: 1 });
    const built = {
      blob: { digest: sha256Digest(gz), mediaType: docker ? mt.DOCKER_LAYER_GZIP : mt.OCI_LAYER_GZIP, data: gz },
      diffId: sha256Digest(raw),
    };
    this.#layers.set(key, built);
    return built;
  }

  #image(spec: ImageSpec): BuiltArtifact {
    const docker = spec.format === 'docker';
    const blobs: Blob[] = [];
    const manifests: BuiltManifest[] = [];
    for (const arch of spec.platforms) {
      const layers = spec.layers.map((l) => this.#layer(l, arch, docker));
      const config = json({
        architecture: arch,
        os: 'linux',
        created: '2026-01-01T00:00:00Z',
        config: {
          Entrypoint: ['/bin/sh'],
          Labels: { 'org.opencontainers.image.source': `lab://${spec.upstream}/${spec.repo}` },
        },
        rootfs: { type: 'layers', diff_ids: layers.map((l) => l.diffId) },
        history: spec.layers.map((l) => ({
          created: '2026-01-01T00:00:00Z',
          created_by: `lab corpus layer ${l.name}`,
        })),
      });
      const configBlob: Blob = {
        digest: sha256Digest(config),
        mediaType: docker ? mt.DOCKER_CONFIG : mt.OCI_CONFIG,
        data: config,
      };
      blobs.push(configBlob, ...layers.map((l) => l.blob));
      const mediaType = docker ? mt.DOCKER_MANIFEST : mt.OCI_MANIFEST;
      const bytes = json({
        schemaVersion: 2,
        mediaType,
        config: descriptor(configBlob),
        layers: layers.map((l) => descriptor(l.blob)),
      });
      manifests.push({ digest: sha256Digest(bytes), mediaType, bytes });
    }
    if (spec.platforms.length > 1) {
      const mediaType = docker ? mt.DOCKER_MANIFEST_LIST : mt.OCI_INDEX;
      const bytes = json({
        schemaVersion: 2,
        mediaType,
        manifests: manifests.map((m, i) => ({
          mediaType: m.mediaType,
          digest: m.digest,
          size: m.bytes.byteLength,
          platform: { architecture: spec.platforms[i], os: 'linux' },
        })),
      });
      manifests.push({ digest: sha256Digest(bytes), mediaType, bytes });
    }
    return { spec, blobs: dedupe(blobs), manifests };
  }

  #chart(spec: ChartSpec): BuiltArtifact {
    const chartYaml = `apiVersion: v2\nname: ${spec.name}\nversion: ${spec.version}\ndescription: Lab stand-in for the ${spec.name} blueprint chart\ntype: application\n`;
    const template = `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-marker\ndata:\n  chart: ${spec.name}\n  version: ${spec.version}\n`;
    const raw = tar([
      { path: `${spec.name}/Chart.yaml`, data: Buffer.from(chartYaml) },
      { path: `${spec.name}/values.yaml`, data: Buffer.from(spec.image ? `image: ${imageRef(spec.image)}\n` : '{}\n') },
      { path: `${spec.name}/templates/marker.yaml`, data: Buffer.from(template) },
      ...(spec.image ? [{ path: `${spec.name}/templates/deployment.yaml`, data: Buffer.from(WORKLOAD_TEMPLATE) }] : []),
    ]);
    const content = gzipSync(raw, { level: 9 });
    const config = json({ apiVersion: 'v2', name: spec.name, version: spec.version, type: 'application' });
    const configBlob: Blob = { digest: sha256Digest(config), mediaType: mt.HELM_CONFIG, data: config };
    const layerBlob: Blob = { digest: sha256Digest(content), mediaType: mt.HELM_CHART_LAYER, data: content };
    const bytes = json({
      schemaVersion: 2,
      mediaType: mt.OCI_MANIFEST,
      config: descriptor(configBlob),
      layers: [descriptor(layerBlob)],
      annotations: { 'org.opencontainers.image.title': spec.name, 'org.opencontainers.image.version': spec.version },
    });
    return {
      spec,
      blobs: [configBlob, layerBlob],
      manifests: [{ digest: sha256Digest(bytes), mediaType: mt.OCI_MANIFEST, bytes }],
    };
  }
}

const imageRef = (i: ChartImage): string => `${internetHost(UPSTREAMS[i.upstream].port)}/${i.repo}:${i.tag}`;

/** What an image-bearing chart renders: one Deployment on its values' (upstream) image. */
const WORKLOAD_TEMPLATE = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ .Release.Name }}
spec:
  replicas: 1
  selector:
    matchLabels:
      app.kubernetes.io/instance: {{ .Release.Name }}
  template:
    metadata:
      labels:
        app.kubernetes.io/instance: {{ .Release.Name }}
    spec:
      containers:
        - name: app
          image: {{ .Values.image }}
`;

export function artifactTag(spec: ArtifactSpec): string {
  return spec.kind === 'chart' ? spec.version : spec.tag;
}

function descriptor(blob: Blob): mt.Descriptor {
  return { mediaType: blob.mediaType, digest: blob.digest, size: blob.data.byteLength };
}

function json(value: unknown): Uint8Array {
  return Buffer.from(JSON.stringify(value));
}

function dedupe(blobs: Blob[]): Blob[] {
  return [...new Map(blobs.map((b) => [b.digest, b])).values()];
}
