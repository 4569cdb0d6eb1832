// The images a Helm chart declares in its default values (issue 15 §1, ADR 0017), read from the
// chart's package without rendering it: `image: host/repo:tag` strings, and `image:` objects in the
// common shapes (`{registry, repository, tag, digest}`; a missing tag is the chart's appVersion).
// Subcharts (`charts/…`) are not read. What it cannot see: images assembled by templates from other
// values, or set by the HelmRelease's own values. Pure.
import { gunzipSync } from 'node:zlib';
import { parse } from 'yaml';

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const IMAGE_REF = /^[a-z0-9][a-z0-9._:/-]*?(:[\w][\w.-]*)?(@sha256:[a-f0-9]{64})?$/;
const str = (v: unknown): string => (typeof v === 'string' || typeof v === 'number' ? String(v) : '');

/** The files of a ustar archive (regular files only). */
export function untar(archive: Uint8Array): Map<string, Buffer> {
  const buf = Buffer.from(archive);
  const files = new Map<string, Buffer>();
  for (let at = 0; at + 512 <= buf.length;) {
    const header = buf.subarray(at, at + 512);
    if (header.every((b) => b === 0)) break;
    const field = (from: number, to: number) => header.subarray(from, to).toString('utf8').replace(/\0.*$/s, '');
    const size = parseInt(field(124, 136).trim() || '0', 8);
    const prefix = field(345, 500);
    const name = prefix ? `${prefix}/${field(0, 100)}` : field(0, 100);
    const type = field(156, 157);
    if (type === '0' || type === '') files.set(name, buf.subarray(at + 512, at + 512 + size));
    at += 512 + Math.ceil(size / 512) * 512;
  }
  return files;
}

/** An `image:` value as a reference, or '' when it is not one (a pull policy, a bare name). */
function imageOf(value: unknown, appVersion: string): string {
  // A reference is lowercase but for its tag (`IfNotPresent` under an `image` key is a pull policy).
  if (typeof value === 'string') return IMAGE_REF.test(value) ? value : '';
  if (!isObj(value)) return '';
  const repository = str(value.repository) || str(value.name);
  if (!repository) return '';
  const registry = str(value.registry);
  const path = registry && !repository.startsWith(`${registry}/`) ? `${registry}/${repository}` : repository;
  const digest = str(value.digest);
  if (digest) return `${path}@${digest}`;
  const tag = str(value.tag) || appVersion;
  return tag ? `${path}:${tag}` : '';
}

function walk(value: unknown, appVersion: string, into: Set<string>): void {
  if (Array.isArray(value)) for (const v of value) walk(v, appVersion, into);
  else if (isObj(value))
    for (const [key, v] of Object.entries(value)) {
      const ref = /image$/i.test(key) ? imageOf(v, appVersion) : '';
      if (ref) into.add(ref);
      else walk(v, appVersion, into);
    }
}

/** The images a chart package (`.tgz`) names in its own default values. */
export function chartImages(tgz: Uint8Array): string[] {
  const files = untar(gunzipSync(tgz));
  const top = (file: string) => [...files.keys()].find((k) => /^[^/]+\/[^/]+$/.test(k) && k.endsWith(`/${file}`));
  const chartFile = top('Chart.yaml');
  const valuesFile = top('values.yaml');
  if (!valuesFile) return [];
  const chart: unknown = chartFile ? parse(files.get(chartFile)!.toString('utf8')) : {};
  const appVersion = isObj(chart) ? str(chart.appVersion) : '';
  const found = new Set<string>();
  walk(parse(files.get(valuesFile)!.toString('utf8')), appVersion, found);
  return [...found];
}
