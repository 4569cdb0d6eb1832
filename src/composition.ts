// The composition root: the one place that builds real adapters — from values, the Secrets they
// name, and a Kubernetes connection.
import { GiteaForge } from './adapters/gitea/gitea-forge.ts';
import { HarborApi } from './adapters/harbor/harbor-api.ts';
import { KubeCluster } from './adapters/kube/cluster.ts';
import { CutoverError } from './core/errors.ts';
import type { Values } from './core/values.ts';
import { StatusStore } from './engine/status-store.ts';
import type { Credentials, StepEnv } from './steps/env.ts';

export async function buildStepEnv(values: Values, cluster: KubeCluster, namespace: string): Promise<StepEnv> {
  const gitea = await secretKeys(cluster, values.gitea.adminSecretRef, [values.gitea.adminSecretRef.usernameKey, values.gitea.adminSecretRef.passwordKey]);
  const harbor = await secretKeys(cluster, values.harbor.adminSecretRef, [values.harbor.adminSecretRef.usernameKey, values.harbor.adminSecretRef.passwordKey]);
  const harborCredentials = { username: harbor[0], password: harbor[1] };
  return {
    cluster,
    namespace,
    forge: new GiteaForge(values.sovereign.giteaInternalURL, { username: gitea[0], password: gitea[1] }),
    harbor: new HarborApi(values.sovereign.harborInternalURL, harborCredentials),
    harborCredentials,
    upstreamAuths: await dockerAuths(cluster, values),
  };
}

export function statusStore(values: Values, cluster: KubeCluster, namespace: string): StatusStore {
  return new StatusStore(cluster, namespace, values.status.configMapName);
}

async function secretKeys(cluster: KubeCluster, ref: { name: string; namespace: string }, keys: [string, string]): Promise<[string, string]> {
  const data = await cluster.secretData(ref.namespace, ref.name);
  const missing = keys.filter((k) => !data[k]);
  if (missing.length) throw new CutoverError('missing-secret-key', `Secret ${ref.namespace}/${ref.name} has no ${missing.join(', ')}`);
  return [data[keys[0]] as string, data[keys[1]] as string];
}

/** Upstream registry credentials by host, from the dockerconfigjson Secret; absent Secret = none. */
async function dockerAuths(cluster: KubeCluster, values: Values): Promise<Map<string, Credentials>> {
  const ref = values.harbor.ghcrSecretRef;
  const data = await cluster.secretData(ref.namespace, ref.name).catch((error: unknown) => {
    // No pull Secret means anonymous upstreams; any other failure (403, 5xx) must not pass as that.
    if ((error as { status?: number }).status === 404) return {} as Record<string, string>;
    throw error;
  });
  const auths = new Map<string, Credentials>();
  const text = data[ref.dockerConfigKey];
  if (!text) return auths;
  let parsed: { auths?: Record<string, { username?: string; password?: string; auth?: string }> };
  try {
    parsed = JSON.parse(text) as typeof parsed;
  } catch {
    throw new CutoverError('invalid-secret', `Secret ${ref.namespace}/${ref.name}: ${ref.dockerConfigKey} is not JSON`);
  }
  for (const [host, entry] of Object.entries(parsed.auths ?? {})) {
    const [user, ...rest] = entry.auth ? Buffer.from(entry.auth, 'base64').toString().split(':') : [entry.username ?? '', entry.password ?? ''];
    auths.set(host.replace(/^https?:\/\//, '').replace(/\/.*$/, ''), { username: entry.username ?? user ?? '', password: entry.password ?? rest.join(':') });
  }
  return auths;
}
