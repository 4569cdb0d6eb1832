// Test helpers over the lab's real apiserver: typed clients as the lab admin, a namespace of
// the test's own (deleted afterwards, with everything in it), and polling with a clear failure.
import { setTimeout as sleep } from 'node:timers/promises';
import { AppsV1Api, AuthenticationV1Api, BatchV1Api, CoreV1Api, CustomObjectsApi, KubeConfig, RbacAuthorizationV1Api } from '@kubernetes/client-node';
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

/** Polls until `check` returns a value (not undefined/false); fails naming what never happened. */
export async function eventually<T>(what: string, check: () => Promise<T | undefined | false>, timeoutMs = 60_000): Promise<T> {
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
  throw new Error(`timed out after ${timeoutMs / 1000} s waiting for ${what}${last ? ` (last error: ${String(last)})` : ''}`);
}

/** A namespace for one test; deleting it (and all it holds) is registered with `cleanups`. */
export async function testNamespace(prefix: string, cleanups: Array<() => Promise<unknown>>): Promise<string> {
  const name = uniqueName(prefix);
  const { core } = kube();
  await core.createNamespace({ body: { metadata: { name, labels: { 'sovereign.lab/test': 'true' } } } });
  cleanups.push(() => core.deleteNamespace({ name }).catch(() => undefined));
  // The ServiceAccount controller creates `default`; pods need it.
  await eventually(`ServiceAccount default in ${name}`, async () => (await core.readNamespacedServiceAccount({ name: 'default', namespace: name })).metadata?.name);
  return name;
}
