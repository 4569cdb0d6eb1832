// CA bundles the values keep in Secrets (`tls.caBundleSecretRef`, `tls.hosts[].caBundleSecretRef`):
// read once when a command starts and added to the inline bundle of the same scope, so every consumer
// — this process's clients, the node agent's config, Flux's certSecretRef — sees one bundle per scope.
import { CutoverError, PeerError } from '../../core/errors.ts';
import type { CaSecretRef, Values } from '../../core/values.ts';
import type { KubeCluster } from './cluster.ts';

async function readCa(cluster: KubeCluster, ref: CaSecretRef, namespace: string, where: string): Promise<string> {
  const ns = ref.namespace || namespace;
  let data: Record<string, string>;
  try {
    data = await cluster.secretData(ns, ref.name);
  } catch (error) {
    if (error instanceof PeerError && error.status === 404)
      throw new CutoverError('ca-secret-missing', `${where}: Secret ${ns}/${ref.name} does not exist`);
    throw error;
  }
  const pem = data[ref.key];
  if (!pem?.trim())
    throw new CutoverError(
      'ca-secret-missing',
      `${where}: Secret ${ns}/${ref.name} has no key "${ref.key}" (its keys: ${Object.keys(data).join(', ') || 'none'})`,
    );
  return pem;
}

const join = (inline: string, fromSecret: string) => [inline.trim(), fromSecret.trim()].filter(Boolean).join('\n');

/** The values with every CA Secret's bundle added to its scope's `caBundle`; the refs stay as written. */
export async function withCaSecrets(values: Values, cluster: KubeCluster, namespace: string): Promise<Values> {
  const { tls } = values;
  if (!tls.caBundleSecretRef && !tls.hosts.some((h) => h.caBundleSecretRef)) return values;
  const caBundle = tls.caBundleSecretRef
    ? join(tls.caBundle, await readCa(cluster, tls.caBundleSecretRef, namespace, 'tls.caBundleSecretRef'))
    : tls.caBundle;
  const hosts = [];
  for (const [i, h] of tls.hosts.entries())
    hosts.push(
      h.caBundleSecretRef
        ? {
            ...h,
            caBundle: join(
              h.caBundle,
              await readCa(cluster, h.caBundleSecretRef, namespace, `tls.hosts[${i}].caBundleSecretRef (${h.host})`),
            ),
          }
        : h,
    );
  return { ...values, tls: { ...tls, caBundle, hosts } };
}
