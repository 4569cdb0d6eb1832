// Test helpers over the lab's real apiserver: typed clients as the lab admin, a namespace of
// the test's own (deleted afterwards, with everything in it), and polling with a clear failure.
import { setTimeout as sleep } from 'node:timers/promises';
import {
  ApiextensionsV1Api,
  AppsV1Api,
  AuthenticationV1Api,
  BatchV1Api,
  CoordinationV1Api,
  CoreV1Api,
  CustomObjectsApi,
  KubeConfig,
  RbacAuthorizationV1Api,
} from '@kubernetes/client-node';
import { microTime } from '../../src/adapters/kube/cluster.ts';
import { LEASE_NAME } from '../../src/core/contracts.ts';
import { lab, uniqueName } from './lab.ts';

export function kube() {
  const config = new KubeConfig();
  config.loadFromFile(lab().kube.kubeconfig);
  return {
    config,
    core: config.makeApiClient(CoreV1Api),
    apps: config.makeApiClient(AppsV1Api),
    batch: config.makeApiClient(BatchV1Api),
    rbac: config.makeApiClient(RbacAuthorizationV1Api),
    authn: config.makeApiClient(AuthenticationV1Api),
    custom: config.makeApiClient(CustomObjectsApi),
  };
}

/**
 * Polls until `check` returns a value (not undefined/false); fails naming what never happened and,
 * with `explain`, what the cluster looked like then (a flake in CI is then a diagnosis, not a guess).
 */
export async function eventually<T>(
  what: string,
  check: () => Promise<T | undefined | false>,
  timeoutMs = 60_000,
  explain?: () => Promise<string>,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const value = await check();
      if (value !== undefined && value !== false) return value;
    } catch (error) {
      last = error;
    }
    await sleep(500);
  }
  const details = explain ? await explain().catch((error: unknown) => `(could not explain: ${String(error)})`) : '';
  throw new Error(
    `timed out after ${timeoutMs / 1000} s waiting for ${what}${last ? ` (last error: ${String(last)})` : ''}${details ? `\n${details}` : ''}`,
  );
}

/** A namespace for one test; deleting it (and all it holds) is registered with `cleanups`. */
export async function testNamespace(
  prefix: string,
  cleanups: Array<() => Promise<unknown>>,
  labels: Record<string, string> = {},
): Promise<string> {
  const name = uniqueName(prefix);
  const { core } = kube();
  await core.createNamespace({ body: { metadata: { name, labels: { 'sovereign.lab/test': 'true', ...labels } } } });
  cleanups.push(() => core.deleteNamespace({ name }).catch(() => undefined));
  // The ServiceAccount controller creates `default`; pods need it.
  await eventually(
    `ServiceAccount default in ${name}`,
    async () => (await core.readNamespacedServiceAccount({ name: 'default', namespace: name })).metadata?.name,
  );
  return name;
}

/**
 * A CRD stand-in (any spec) for an API the lab does not run — Cilium, catalyst's Blueprint,
 * Crossplane — created if absent and served before this returns. Returns its removal (a no-op when
 * the CRD was there already).
 */
export async function standInCrd(crd: {
  group: string;
  plural: string;
  kind: string;
  version: string;
  scope: 'Namespaced' | 'Cluster';
}): Promise<() => Promise<void>> {
  const k = kube();
  const crds = k.config.makeApiClient(ApiextensionsV1Api);
  const name = `${crd.plural}.${crd.group}`;
  // Only a stand-in this call created is removed: a real CRD (the lab's Flux ones) is left alone.
  let created = true;
  await crds
    .createCustomResourceDefinition({
      body: {
        metadata: { name, labels: { 'lab.sovereign-cutover/stand-in': 'true' } },
        spec: {
          group: crd.group,
          scope: crd.scope,
          names: { plural: crd.plural, singular: crd.kind.toLowerCase(), kind: crd.kind },
          versions: [
            {
              name: crd.version,
              served: true,
              storage: true,
              schema: { openAPIV3Schema: { type: 'object', x_kubernetes_preserve_unknown_fields: true } },
            },
          ],
        },
      },
    })
    .catch((error: unknown) => {
      if ((error as { code?: number }).code !== 409) throw error;
      created = false;
    });
  await eventually(
    `${name} served`,
    () =>
      k.custom.listClusterCustomObject({ group: crd.group, version: crd.version, plural: crd.plural }).then(
        () => true,
        () => false,
      ),
    30_000,
  );
  return async () => {
    if (created) await crds.deleteCustomResourceDefinition({ name }).catch(() => undefined);
  };
}

export const CCNP_STAND_IN = {
  group: 'cilium.io',
  plural: 'ciliumclusterwidenetworkpolicies',
  kind: 'CiliumClusterwideNetworkPolicy',
  version: 'v2',
  scope: 'Cluster',
} as const;

/** A Lease as another engine holds it (renewed at `renewedAt`, for `seconds`). */
export async function foreignLease(
  namespace: string,
  holder: string,
  renewedAt: Date,
  seconds: number,
): Promise<() => Promise<void>> {
  const coordination = kube().config.makeApiClient(CoordinationV1Api);
  const at = microTime(renewedAt) as unknown as Date;
  await coordination.createNamespacedLease({
    namespace,
    body: {
      metadata: { name: LEASE_NAME },
      spec: { holderIdentity: holder, leaseDurationSeconds: seconds, acquireTime: at, renewTime: at },
    },
  });
  return async () => {
    await coordination.deleteNamespacedLease({ name: LEASE_NAME, namespace }).catch(() => undefined);
  };
}

/** A short-lived token of a ServiceAccount (10 minutes), to act as it. */
export async function serviceAccountToken(name: string, namespace: string): Promise<string> {
  const r = await kube().core.createNamespacedServiceAccountToken({
    name,
    namespace,
    body: { spec: { audiences: [], expirationSeconds: 600 } },
  });
  return r.status?.token ?? '';
}
