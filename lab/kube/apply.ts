// Server-side apply of lab manifests (the lab has no kubectl): idempotent by construction.
import { readFileSync } from 'node:fs';
import { KubeConfig, KubernetesObjectApi, PatchStrategy, type KubernetesObject } from '@kubernetes/client-node';
import { parseAllDocuments } from 'yaml';

const FIELD_MANAGER = 'sovereign-lab';

export function objectApi(kubeconfig: string): KubernetesObjectApi {
  const config = new KubeConfig();
  config.loadFromFile(kubeconfig);
  return KubernetesObjectApi.makeApiClient(config);
}

export function parseManifests(text: string): KubernetesObject[] {
  return parseAllDocuments(text)
    .map((d) => d.toJS() as KubernetesObject | null)
    .filter((o): o is KubernetesObject => Boolean(o?.kind));
}

export function readManifests(file: string): KubernetesObject[] {
  return parseManifests(readFileSync(file, 'utf8'));
}

export async function apply(api: KubernetesObjectApi, objects: KubernetesObject[]): Promise<void> {
  for (const object of objects) {
    try {
      await api.patch(object, undefined, undefined, FIELD_MANAGER, true, PatchStrategy.ServerSideApply);
    } catch (error) {
      const body = (error as { body?: unknown }).body;
      throw new Error(`applying ${object.kind} ${object.metadata?.namespace ?? ''}/${object.metadata?.name}: ${typeof body === 'string' ? body : JSON.stringify(body ?? String(error))}`);
    }
  }
}
