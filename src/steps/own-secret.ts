// A Secret the cutover gives Flux (Gitea's credential and CA, the local Harbor's CA): one object by a
// fixed name per namespace, written by server-side apply — one request whether it exists or not, so
// the runner needs create + patch on that name only — and read back.
import type { KubernetesObject } from '@kubernetes/client-node';
import { serverSideApply } from '../adapters/kube/apply.ts';
import { CutoverError } from '../core/errors.ts';
import { journalCreates, type Journaling } from './journal.ts';

export async function applyOwnSecret(
  env: Journaling,
  step: string,
  namespace: string,
  name: string,
  data: Record<string, string>,
): Promise<void> {
  const secret = {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name, namespace, labels: { 'app.kubernetes.io/part-of': 'self-sovereign-cutover' } },
    type: 'Opaque',
    stringData: data,
  };
  const { cluster } = env;
  await journalCreates(env, step, [secret as KubernetesObject]);
  await serverSideApply(cluster.config, [secret as KubernetesObject], 'sovereign-cutover');
  const written = await cluster.secretData(namespace, name);
  const differs = Object.keys(data).filter((key) => written[key] !== data[key]);
  if (differs.length)
    throw new CutoverError(
      'read-back',
      `Secret ${namespace}/${name} does not hold what was just written (${differs.join(', ')})`,
    );
}
