// Test helpers over the shared lab: its endpoints, unique names per test, a Harbor API caller,
// and fresh images nobody has pulled before (unique content, so caches cannot answer for them).
import { randomBytes } from 'node:crypto';
import { DistributionClient } from '../../src/adapters/oci/distribution-client.ts';
import { CorpusGenerator, topManifest } from '../../lab/corpus/generate.ts';
import { readEndpoints, type Endpoints } from '../../lab/topology.ts';

export function lab(): Endpoints {
  return readEndpoints();
}

export function uniqueName(prefix: string): string {
  return `${prefix}-${randomBytes(4).toString('hex')}`;
}

export interface HarborCall {
  status: number;
  headers: Headers;
  body: any;
}

/** Calls a Harbor (double) API path below /api/v2.0 as admin unless `anonymous`. */
export function harborApi(base: string, credentials: { username: string; password: string }) {
  return async (method: string, path: string, body?: unknown, options: { anonymous?: boolean; rawBody?: string } = {}): Promise<HarborCall> => {
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    if (!options.anonymous) headers.authorization = `Basic ${Buffer.from(`${credentials.username}:${credentials.password}`).toString('base64')}`;
    const payload = options.rawBody ?? (body === undefined ? undefined : JSON.stringify(body));
    const res = await fetch(`${base}/api/v2.0${path}`, { method, headers, ...(payload === undefined ? {} : { body: payload }) });
    const text = await res.text();
    let parsed: unknown = text;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      /* plain text answer */
    }
    return { status: res.status, headers: res.headers, body: parsed };
  };
}

/** Pushes a single-platform image with one unique layer; returns its manifest digest. */
export async function pushFreshImage(client: DistributionClient, repo: string, tag: string): Promise<string> {
  const built = new CorpusGenerator().build({
    kind: 'image',
    upstream: 'ghcr',
    repo,
    tag,
    format: 'oci',
    platforms: ['amd64'],
    layers: [{ name: `fresh-${randomBytes(8).toString('hex')}`, bytes: 4096 }],
  });
  for (const blob of built.blobs) await client.pushBlob(repo, blob.digest, blob.data);
  const top = topManifest(built);
  return await client.putManifest(repo, tag, top.mediaType, top.bytes);
}
