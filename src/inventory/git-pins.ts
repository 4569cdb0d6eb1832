// The artifacts a Git revision pins, read from its manifests without rendering anything (issue 15's
// pin radar, ADR 0017): the image of every container in any pod template (`containers`,
// `initContainers`, `ephemeralContainers` lists wherever they are: Pods, workloads, CronJobs), the
// chart:version a HelmRelease installs from an OCI HelmRepository, and the artifact an OCIRepository
// pulls. What it cannot see here: images a chart renders (its default values are read from the chart's
// package by chart-images.ts), kustomize `images:` overrides, postBuild substitutions, version ranges
// (no registry is asked here). Pure.
import { parseAllDocuments } from 'yaml';
import { ociArtifactURL } from './sources/flux.ts';

export interface GitPin {
  kind: 'image' | 'chart';
  /** `host/path:tag` or `host/path@sha256:…`. */
  ref: string;
  /** `path/in/repo.yaml: Kind namespace/name`. */
  foundIn: string;
}

export interface GitManifest {
  file: string;
  text: string;
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const CONTAINER_LISTS = new Set(['containers', 'initContainers', 'ephemeralContainers']);

/** Every Kubernetes object in the manifests (kustomize's own files and unparsable documents are skipped). */
export function manifestObjects(manifests: GitManifest[]): Array<{ file: string; object: Obj }> {
  const found: Array<{ file: string; object: Obj }> = [];
  for (const m of manifests) {
    for (const doc of parseAllDocuments(m.text)) {
      if (doc.errors.length) continue;
      const object: unknown = doc.toJS();
      if (!isObj(object) || typeof object.kind !== 'string' || typeof object.apiVersion !== 'string') continue;
      if (object.apiVersion.startsWith('kustomize.config.k8s.io/')) continue;
      found.push({ file: m.file, object });
    }
  }
  return found;
}

function images(value: unknown, into: string[]): void {
  if (Array.isArray(value)) for (const v of value) images(v, into);
  else if (isObj(value))
    for (const [key, v] of Object.entries(value)) {
      if (CONTAINER_LISTS.has(key) && Array.isArray(v)) {
        for (const c of v) if (isObj(c) && typeof c.image === 'string' && c.image) into.push(c.image);
      } else images(v, into);
    }
}

export function pinsOf(manifests: GitManifest[]): GitPin[] {
  const objects = manifestObjects(manifests);
  const pins: GitPin[] = [];
  const where = (file: string, o: Obj) => {
    const meta = isObj(o.metadata) ? o.metadata : {};
    const ns = typeof meta.namespace === 'string' ? `${meta.namespace}/` : '';
    return `${file}: ${String(o.kind)} ${ns}${String(meta.name ?? '')}`;
  };
  const helmRepos = new Map<string, string>();
  for (const { object } of objects) {
    const spec = isObj(object.spec) ? object.spec : {};
    const meta = isObj(object.metadata) ? object.metadata : {};
    if (object.kind === 'HelmRepository' && typeof spec.url === 'string' && spec.url.startsWith('oci://'))
      helmRepos.set(String(meta.name), spec.url.replace(/^oci:\/\//, '').replace(/\/+$/, ''));
  }
  for (const { file, object } of objects) {
    const spec = isObj(object.spec) ? object.spec : {};
    const found: string[] = [];
    images(spec, found);
    for (const image of found) pins.push({ kind: 'image', ref: image, foundIn: where(file, object) });
    if (object.kind === 'HelmRelease') {
      const chart = isObj(spec.chart) && isObj(spec.chart.spec) ? spec.chart.spec : undefined;
      const source = chart && isObj(chart.sourceRef) ? chart.sourceRef : undefined;
      const repo = source?.kind === 'HelmRepository' ? helmRepos.get(String(source.name)) : undefined;
      const version = typeof chart?.version === 'string' ? chart.version : '';
      // An exact version only: a range is resolved by the registry's tags, which this does not ask.
      if (repo && chart && /^v?\d+\.\d+\.\d+([-+][\w.-]+)?$/.test(version))
        pins.push({ kind: 'chart', ref: `${repo}/${String(chart.chart)}:${version}`, foundIn: where(file, object) });
    }
    if (object.kind === 'OCIRepository' && typeof spec.url === 'string') {
      const url = ociArtifactURL({ metadata: {} as never, spec: spec as never });
      if (url) pins.push({ kind: 'chart', ref: url.replace(/^oci:\/\//, ''), foundIn: where(file, object) });
    }
  }
  return pins;
}
