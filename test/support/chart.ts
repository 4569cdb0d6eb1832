// kubeconform (built from its Go module, lab/peers; helm is lab/peers/helm.ts), the schemas
// kubeconform validates against (the lab apiserver's own OpenAPI v3: the built-in kinds and every CRD
// it serves, Flux's included), and Helm's way of merging a values file over the chart's defaults.
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { peerBinary } from '../../lab/peers/build.ts';
import { lab } from './lab.ts';

export const KUBECONFORM = peerBinary('kubeconform', 'kubeconform');

type Doc = Record<string, unknown>;
const isDoc = (v: unknown): v is Doc => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Helm's coalescing of a values file over the chart's: maps merge, lists and scalars replace, null deletes. */
export function helmMerge(base: unknown, over: unknown): unknown {
  if (!isDoc(base) || !isDoc(over)) return over;
  const out: Doc = { ...base };
  for (const [key, value] of Object.entries(over))
    if (value === null) delete out[key];
    else out[key] = helmMerge(base[key], value);
  return out;
}

async function getJson(config: KubeConfig, path: string): Promise<Doc> {
  const options: Parameters<typeof request>[1] & { headers: Record<string, string> } = {
    headers: { accept: 'application/json' },
  };
  await config.applyToHTTPSOptions(options);
  const url = new URL(path, config.getCurrentCluster()?.server);
  return new Promise((resolve, reject) =>
    request(url, options, (res) => {
      let text = '';
      res.on('data', (chunk: Buffer) => (text += chunk.toString()));
      res.on('end', () =>
        res.statusCode === 200 ? resolve(JSON.parse(text) as Doc) : reject(new Error(`${path}: ${res.statusCode}`)),
      );
    })
      .on('error', reject)
      .end(),
  );
}

/**
 * Strict schemas: every object schema with properties refuses others (what kubeconform's `-strict`
 * schemas are), but where Kubernetes says unknown fields are kept.
 */
function strict(schema: unknown): unknown {
  if (Array.isArray(schema)) return schema.map(strict);
  if (!isDoc(schema)) return schema;
  const out = Object.fromEntries(Object.entries(schema).map(([k, v]) => [k, strict(v)]));
  if (isDoc(out.properties) && !('additionalProperties' in out) && !out['x-kubernetes-preserve-unknown-fields'])
    out.additionalProperties = false;
  return out;
}

let schemas: Promise<string> | undefined;

/** A folder of JSON schemas, one per kind the lab apiserver serves, laid out as kubeconform's template reads. */
export function labSchemas(): Promise<string> {
  schemas ??= (async () => {
    const config = new KubeConfig();
    config.loadFromFile(lab().kube.kubeconfig);
    const dir = mkdtempSync(join(tmpdir(), 'kubeconform-schemas-'));
    const index = (await getJson(config, '/openapi/v3')) as { paths: Record<string, { serverRelativeURL: string }> };
    for (const { serverRelativeURL } of Object.values(index.paths)) {
      const doc = (await getJson(config, serverRelativeURL)) as { components?: { schemas?: Record<string, Doc> } };
      const all = strict(doc.components?.schemas ?? {}) as Record<string, Doc>;
      for (const schema of Object.values(all))
        for (const gvk of (schema['x-kubernetes-group-version-kind'] ?? []) as Array<Doc>) {
          const group = String(gvk.group) || 'v1'; // kubeconform names the core group after its version
          const folder = join(dir, group, String(gvk.version));
          mkdirSync(folder, { recursive: true });
          writeFileSync(
            join(folder, `${String(gvk.kind).toLowerCase()}.json`),
            JSON.stringify({ ...schema, components: { schemas: all } }),
          );
        }
    }
    return dir;
  })();
  return schemas;
}

/** kubeconform, strict, on YAML documents; resolves with its JSON report. */
export async function kubeconform(yaml: string): Promise<{ status: number | null; out: string }> {
  const dir = await labSchemas();
  const r = spawnSync(
    KUBECONFORM,
    [
      '-strict',
      '-summary',
      '-output',
      'json',
      '-schema-location',
      `${dir}/{{ .Group }}/{{ .ResourceAPIVersion }}/{{ .ResourceKind }}.json`,
      '-',
    ],
    { encoding: 'utf8', input: yaml },
  );
  return { status: r.status, out: r.stdout + r.stderr };
}
