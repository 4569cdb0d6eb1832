// Flux source objects (source.toolkit.fluxcd.io/v1) as the inventory reads them and the steps patch them.
import { setTimeout as sleep } from 'node:timers/promises';
import { kubeError, mergePatch, type KubeCluster } from './cluster.ts';
import { CutoverError } from '../../core/errors.ts';

export interface FluxCondition {
  type: string;
  status: string;
  reason?: string;
  message?: string;
}

export interface FluxSource {
  metadata: { name: string; namespace: string; generation?: number; annotations?: Record<string, string> };
  spec: {
    url?: string;
    secretRef?: { name: string };
    insecure?: boolean;
    type?: string;
    sourceRef?: { kind: string; name: string };
    chart?: string;
    version?: string;
  };
  status?: {
    conditions?: FluxCondition[];
    observedGeneration?: number;
    artifact?: { revision: string };
    lastHandledReconcileAt?: string;
  };
}

export type FluxPlural = 'gitrepositories' | 'helmrepositories' | 'ocirepositories' | 'helmcharts';

const GROUP = 'source.toolkit.fluxcd.io';
const VERSION = 'v1';
export const REQUESTED_AT = 'reconcile.fluxcd.io/requestedAt';

export async function getFlux(
  cluster: KubeCluster,
  plural: FluxPlural,
  namespace: string,
  name: string,
): Promise<FluxSource> {
  try {
    return (await cluster.custom.getNamespacedCustomObject({
      group: GROUP,
      version: VERSION,
      plural,
      namespace,
      name,
    })) as FluxSource;
  } catch (error) {
    throw kubeError('GET', `${plural}/${namespace}/${name}`, error);
  }
}

export async function listFlux(cluster: KubeCluster, plural: FluxPlural, namespace: string): Promise<FluxSource[]> {
  try {
    return (
      (await cluster.custom.listNamespacedCustomObject({ group: GROUP, version: VERSION, plural, namespace })) as {
        items: FluxSource[];
      }
    ).items;
  } catch (error) {
    if ((error as { code?: number }).code === 404) return [];
    throw kubeError('GET', `${plural}/${namespace}`, error);
  }
}

/** Every object of a kind in the cluster; none when its CRD is not installed. */
export async function listFluxAll(cluster: KubeCluster, plural: FluxPlural): Promise<FluxSource[]> {
  try {
    return (
      (await cluster.custom.listClusterCustomObject({ group: GROUP, version: VERSION, plural })) as {
        items: FluxSource[];
      }
    ).items;
  } catch (error) {
    if ((error as { code?: number }).code === 404) return [];
    throw kubeError('GET', plural, error);
  }
}

export async function patchFlux(
  cluster: KubeCluster,
  plural: FluxPlural,
  namespace: string,
  name: string,
  body: object,
): Promise<FluxSource> {
  try {
    return (await cluster.custom.patchNamespacedCustomObject(
      { group: GROUP, version: VERSION, plural, namespace, name, body },
      mergePatch,
    )) as FluxSource;
  } catch (error) {
    throw kubeError('PATCH', `${plural}/${namespace}/${name}`, error);
  }
}

export function readyCondition(obj: FluxSource): FluxCondition | undefined {
  return obj.status?.conditions?.find((c) => c.type === 'Ready');
}

/** Polls until `done` holds for the object, or the step deadline; the error shows its last Ready. */
export async function waitFlux(
  cluster: KubeCluster,
  plural: FluxPlural,
  namespace: string,
  name: string,
  signal: AbortSignal,
  done: (o: FluxSource) => boolean,
  what: string,
): Promise<FluxSource> {
  let last: FluxSource | undefined;
  for (let delay = 500; !signal.aborted; delay = Math.min(delay * 2, 5000)) {
    last = await getFlux(cluster, plural, namespace, name);
    if (done(last)) return last;
    await sleep(delay, undefined, { signal }).catch(() => undefined);
  }
  const ready = last ? readyCondition(last) : undefined;
  throw new CutoverError(
    'flux-not-ready',
    `${plural} ${namespace}/${name} never ${what} (Ready=${ready?.status ?? 'unknown'} ${ready?.reason ?? ''}: ${ready?.message ?? ''})`,
  );
}
