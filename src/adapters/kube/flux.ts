// Flux source objects (source.toolkit.fluxcd.io/v1) as the inventory reads them and the steps patch them.
import type { ObjectId } from '../../core/journal.ts';
import { kubeError, mergePatch, type KubeCluster } from './cluster.ts';
import { doubling, pollUntil } from '../../core/poll.ts';

export interface FluxCondition {
  type: string;
  status: string;
  reason?: string;
  message?: string;
  /** The generation the condition was set for (a failed reconcile does not advance `status.observedGeneration`). */
  observedGeneration?: number;
}

export interface FluxSource {
  metadata: {
    name: string;
    namespace: string;
    generation?: number;
    annotations?: Record<string, string>;
    labels?: Record<string, string>;
  };
  spec: {
    url?: string;
    secretRef?: { name: string };
    certSecretRef?: { name: string };
    insecure?: boolean;
    type?: string;
    sourceRef?: { kind: string; name: string };
    chart?: string;
    version?: string;
    /** GitRepository: what it follows (one of these). */
    ref?: { branch?: string; tag?: string; semver?: string; name?: string; commit?: string };
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

const KIND_OF: Record<FluxPlural, string> = {
  gitrepositories: 'GitRepository',
  helmrepositories: 'HelmRepository',
  ocirepositories: 'OCIRepository',
  helmcharts: 'HelmChart',
};

/** A source as the journal names it. */
export function fluxObject(plural: FluxPlural, namespace: string, name: string): ObjectId {
  return { apiVersion: `${GROUP}/${VERSION}`, kind: KIND_OF[plural], namespace, name };
}

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

/** Ready, and the controller has seen the object's current generation (a Ready from before a patch proves nothing). */
export function readyOnCurrentGeneration(obj: FluxSource): boolean {
  return (
    readyCondition(obj)?.status === 'True' && (obj.status?.observedGeneration ?? 0) >= (obj.metadata.generation ?? 0)
  );
}

/** Polls (backing off 0.5 → 5 s) until `done` holds for the object, or the step deadline; the error shows its last Ready. */
export function waitFlux(
  cluster: KubeCluster,
  plural: FluxPlural,
  namespace: string,
  name: string,
  signal: AbortSignal,
  done: (o: FluxSource) => boolean,
  what: string,
): Promise<FluxSource> {
  return pollUntil(() => getFlux(cluster, plural, namespace, name), done, {
    signal,
    interval: doubling(500, 5000),
    code: 'flux-not-ready',
    message: (last) => {
      const ready = readyCondition(last);
      return `${plural} ${namespace}/${name} never ${what} (Ready=${ready?.status ?? 'unknown'} ${ready?.reason ?? ''}: ${ready?.message ?? ''})`;
    },
  });
}
