// The journal (issue 16): every change a step makes to the cluster, recorded before it is made, so
// `cutover rollback` can restore the tethered state from any point — a completed run, a failed
// step, a killed process. Pure: what an entry is, how a field is addressed inside an object, and
// the copy of an object that puts a recorded value back. The store is adapters/kube/journal-store.ts.

/** A path into an object: keys, and `{ name }` for the item of a list keyed by name (containers, env). */
export type Segment = string | { name: string };
export type FieldPath = Segment[];

export interface ObjectId {
  apiVersion: string;
  kind: string;
  namespace?: string;
  name: string;
}

/**
 * - `set`: a field went from `before` (absent when undefined) to `after`; rollback writes `before` back.
 * - `create`: the object did not exist; rollback deletes it.
 * - `entries`: the cutover's marked entries were added to an owner's `spec.patches`/`postRenderers`
 *   (the durable pivot); rollback takes every marked entry out again.
 * - `registry-auth`: the local Harbor's credentials were added to a dockerconfigjson pull Secret under
 *   `host` (the value itself never enters the journal); rollback removes that host's entry.
 * - `strip-auth`: an upstream registry's entry (`host`: its `auths` key) was taken out of a pull Secret
 *   after the pull proof, kept in the cutover's backup Secret; rollback puts it back from there.
 * - `nodes`: the nodes were told to pull through the local Harbor; rollback tells them to restore
 *   their own `hosts.toml` and waits for every node's acknowledgement.
 */
export type JournalOp = 'set' | 'create' | 'entries' | 'registry-auth' | 'strip-auth' | 'nodes';

export interface JournalEntry {
  /** Orders entries across steps and runs (rollback goes in reverse). */
  seq: string;
  step: string;
  /** When the run that made the change started. */
  run: string;
  at: string;
  op: JournalOp;
  object: ObjectId;
  path?: FieldPath;
  before?: unknown;
  after?: unknown;
  /** `registry-auth`: the registry host added to the Secret; `strip-auth`: the `auths` key taken out. */
  host?: string;
}

/**
 * Objects of the Sovereign's peers the cutover creates (a Gitea org and mirror, Harbor projects): they
 * hold content, so a rollback keeps them unless asked to purge.
 */
export const PEER_OBJECTS = {
  giteaOrg: (name: string): ObjectId => ({ apiVersion: 'gitea/v1', kind: 'GiteaOrganization', name }),
  giteaRepo: (owner: string, name: string): ObjectId => ({
    apiVersion: 'gitea/v1',
    kind: 'GiteaRepository',
    namespace: owner,
    name,
  }),
  harborProject: (name: string): ObjectId => ({ apiVersion: 'harbor/v2.0', kind: 'HarborProject', name }),
  /** An identity the cutover created to hold a credential it gave out: a rollback always removes it (revoking the credential). */
  giteaUser: (name: string): ObjectId => ({ apiVersion: 'gitea/v1', kind: 'GiteaUser', name }),
  harborRobot: (name: string): ObjectId => ({ apiVersion: 'harbor/v2.0', kind: 'HarborRobot', name }),
};
export const isPeerObject = (o: ObjectId): boolean => o.apiVersion === 'gitea/v1' || o.apiVersion === 'harbor/v2.0';
/** Identities holding a credential the cutover handed out: not content, so a rollback removes them even without --purge. */
export const isCredentialHolder = (o: ObjectId): boolean => o.kind === 'GiteaUser' || o.kind === 'HarborRobot';

export const describeObject = (o: ObjectId): string => `${o.kind} ${o.namespace ? `${o.namespace}/` : ''}${o.name}`;
export const describePath = (path: FieldPath = []): string =>
  path.map((s) => (typeof s === 'string' ? s : `[name=${s.name}]`)).join('.');
const objectKey = (o: ObjectId): string => `${o.apiVersion}|${o.kind}|${o.namespace ?? ''}|${o.name}`;
/** What one entry is about: the same op on the same field (or object, or registry host). */
export const entryKey = (e: Pick<JournalEntry, 'op' | 'object' | 'path' | 'host'>): string =>
  `${e.op}|${objectKey(e.object)}|${JSON.stringify(e.path ?? [])}|${e.host ?? ''}`;

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const isNamedList = (v: unknown): v is Array<{ name: string } & Record<string, unknown>> =>
  Array.isArray(v) && v.length > 0 && v.every((item) => isRecord(item) && typeof item.name === 'string');

/**
 * The leaves a merge of `fields` sets: nested objects are walked, lists of named items are walked
 * item by item (a strategic merge merges them by name), anything else is one leaf.
 */
export function leaves(
  fields: Record<string, unknown>,
  prefix: FieldPath = [],
): Array<{ path: FieldPath; value: unknown }> {
  const out: Array<{ path: FieldPath; value: unknown }> = [];
  for (const [key, value] of Object.entries(fields)) {
    const path = [...prefix, key];
    if (isRecord(value) && Object.keys(value).length) out.push(...leaves(value, path));
    else if (isNamedList(value))
      for (const item of value) {
        const { name, ...rest } = item;
        const itemPath = [...path, { name }];
        if (Object.keys(rest).length) out.push(...leaves(rest, itemPath));
        else out.push({ path: itemPath, value: item });
      }
    else out.push({ path, value });
  }
  return out;
}

/**
 * What merging `fields` into `live` changes, as journal fields: each leaf that differs — or, where
 * the live object lacks a leaf's parent, that parent whole (its `before` absent), so a rollback
 * removes the object it added instead of leaving an empty one behind.
 */
export function changesAgainst(
  live: unknown,
  fields: Record<string, unknown>,
): Array<{ path: FieldPath; before: unknown; after: unknown }> {
  const out: Array<{ path: FieldPath; before: unknown; after: unknown }> = [];
  const seen = new Set<string>();
  for (const { path, value } of leaves(fields)) {
    // A key of metadata's maps (annotations, labels) is its own field: restoring it must never take the
    // whole map (others' keys, added since) with it.
    const floor = path[0] === 'metadata' && (path[1] === 'annotations' || path[1] === 'labels') ? 2 : 0;
    const absentAt = path.findIndex((_, i) => i >= floor && valueAt(live, path.slice(0, i + 1)) === undefined);
    const at = absentAt < 0 ? path : path.slice(0, absentAt + 1);
    const after = absentAt < 0 ? value : valueAt(fields, at);
    const before = valueAt(live, at);
    if (JSON.stringify(before) === JSON.stringify(after) || seen.has(JSON.stringify(at))) continue;
    seen.add(JSON.stringify(at));
    out.push({ path: at, before, after });
  }
  return out;
}

/** The value at `path`, undefined when any part of it is absent. */
export function valueAt(object: unknown, path: FieldPath): unknown {
  let here: unknown = object;
  for (const segment of path) {
    if (typeof segment === 'string') here = isRecord(here) ? here[segment] : undefined;
    else here = Array.isArray(here) ? here.find((item) => isRecord(item) && item.name === segment.name) : undefined;
    if (here === undefined) return undefined;
  }
  return here;
}

/**
 * A copy of `object` whose `path` holds `value` (removed when `value` is undefined), creating the
 * objects and named list items on the way. The store writes it with the resourceVersion it read.
 */
export function withValue<T>(object: T, path: FieldPath, value: unknown): T {
  const copy = structuredClone(object) as unknown;
  let here: unknown = copy;
  for (const [i, segment] of path.entries()) {
    const last = i === path.length - 1;
    if (typeof segment === 'string') {
      if (!isRecord(here)) return copy as T;
      if (last) {
        if (value === undefined) delete here[segment];
        else here[segment] = value;
        return copy as T;
      }
      if (here[segment] === undefined) {
        if (value === undefined) return copy as T;
        here[segment] = typeof path[i + 1] === 'string' ? {} : [];
      }
      here = here[segment];
      continue;
    }
    if (!Array.isArray(here)) return copy as T;
    const list: unknown[] = here;
    const index = list.findIndex((item) => isRecord(item) && item.name === segment.name);
    if (last) {
      if (value === undefined) {
        if (index >= 0) list.splice(index, 1);
      } else if (index >= 0) list[index] = value;
      else list.push(value);
      return copy as T;
    }
    if (index < 0) {
      if (value === undefined) return copy as T;
      list.push({ name: segment.name });
      here = list[list.length - 1];
    } else here = list[index];
  }
  return copy as T;
}

/**
 * The changes that rollback undoes, per field or object, in the order to undo them: every entry
 * newest first, and for each field the value before its first change — what the cluster had
 * before the cutover touched it.
 */
export function undoOrder(entries: JournalEntry[]): JournalEntry[] {
  const sorted = [...entries].sort((a, b) => (a.seq < b.seq ? 1 : a.seq > b.seq ? -1 : 0));
  const oldestBefore = new Map<string, unknown>();
  for (const e of [...sorted].reverse()) {
    const key = entryKey(e);
    if (!oldestBefore.has(key)) oldestBefore.set(key, e.before);
  }
  const seen = new Set<string>();
  const out: JournalEntry[] = [];
  for (const e of sorted) {
    const key = entryKey(e);
    if (seen.has(key)) continue;
    seen.add(key);
    out.push({ ...e, before: oldestBefore.get(key) });
  }
  return out;
}
