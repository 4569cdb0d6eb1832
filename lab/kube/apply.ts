// Lab manifests, applied with the product's server-side apply (the lab has no kubectl).
import { readFileSync } from 'node:fs';
import { KubeConfig, type KubernetesObject } from '@kubernetes/client-node';
import { parseAllDocuments } from 'yaml';
import { serverSideApply } from '../../src/adapters/kube/apply.ts';

export function parseManifests(text: string): KubernetesObject[] {
  return parseAllDocuments(text)
    .map((d) => d.toJS() as KubernetesObject | null)
    .filter((o): o is KubernetesObject => Boolean(o?.kind));
}

export function readManifests(file: string): KubernetesObject[] {
  return parseManifests(readFileSync(file, 'utf8'));
}

export async function apply(kubeconfig: string, objects: KubernetesObject[]): Promise<void> {
  const config = new KubeConfig();
  config.loadFromFile(kubeconfig);
  await serverSideApply(config, objects, 'sovereign-lab');
}
