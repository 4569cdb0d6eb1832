// How steps journal a change before making it (core/journal.ts): the fields a merge sets on a live
// object, with their values before, and the objects a step creates. Secrets' values never enter the
// journal: a Secret the cutover creates is journaled as created, a pull Secret it adds the local
// Harbor to as `registry-auth` naming only the host.
import type { KubernetesObject } from '@kubernetes/client-node';
import { readObject } from '../adapters/kube/objects.ts';
import type { JournalStore } from '../adapters/kube/journal-store.ts';
import type { KubeCluster } from '../adapters/kube/cluster.ts';
import { changesAgainst, type ObjectId } from '../core/journal.ts';

export interface Journaling {
  cluster: KubeCluster;
  journal: JournalStore;
}

/** Journals the fields a merge of `fields` into the live object will change (nothing when it is absent). */
export async function journalFields(
  env: Journaling,
  step: string,
  object: ObjectId,
  fields: Record<string, unknown>,
): Promise<void> {
  const live = await readObject(env.cluster, object);
  if (!live) return;
  const { apiVersion, kind, namespace, name } = object;
  const id: ObjectId = { apiVersion, kind, ...(namespace ? { namespace } : {}), name };
  await env.journal.record(
    step,
    changesAgainst(live, fields).map((change) => ({ op: 'set' as const, object: id, ...change })),
  );
}

export const idOf = (o: KubernetesObject): ObjectId => ({
  apiVersion: o.apiVersion ?? 'v1',
  kind: o.kind ?? '',
  ...(o.metadata?.namespace ? { namespace: o.metadata.namespace } : {}),
  name: o.metadata?.name ?? '',
});

/** Journals, as created, each of these objects that does not exist yet. */
export async function journalCreates(env: Journaling, step: string, objects: KubernetesObject[]): Promise<void> {
  const absent: ObjectId[] = [];
  for (const o of objects) if (!(await readObject(env.cluster, idOf(o)))) absent.push(idOf(o));
  await env.journal.record(
    step,
    absent.map((object) => ({ op: 'create' as const, object })),
  );
}

/**
 * Journals an object of a peer (a Gitea user or org, a Harbor robot) as created when `exists` says it
 * is not there yet — before the step creates it, so a rollback removes only what the cutover made.
 * Returns whether it was absent.
 */
export async function journalPeerCreate(
  journal: JournalStore,
  step: string,
  object: ObjectId,
  exists: () => Promise<unknown>,
): Promise<boolean> {
  if (await exists()) return false;
  await journal.record(step, [{ op: 'create', object }]);
  return true;
}
