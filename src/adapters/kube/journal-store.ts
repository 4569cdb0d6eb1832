// The journal's store: one ConfigMap per step (`<status ConfigMap>-journal-<step>`), one data key
// per entry, so no step's history can push the status ConfigMap toward its 1 MiB limit. An entry
// is written — and read back — before the change it describes; a journal that cannot take it
// fails the step before anything changed.
import type { V1ConfigMap } from '@kubernetes/client-node';
import { CutoverError } from '../../core/errors.ts';
import { entryKey, type JournalEntry } from '../../core/journal.ts';
import {
  COMPONENT_LABEL,
  JOURNAL_COMPONENT,
  JOURNAL_STEP_LABEL,
  journalConfigMap,
  PART_OF,
  PART_OF_LABEL,
} from '../../core/contracts.ts';
import { kubeError, kubeStatus, mergePatch, type KubeCluster } from './cluster.ts';
import type { StatusStore } from './status-store.ts';

/** What a step records; the store adds the order, the step, the run and the time. */
export type JournalChange = Omit<JournalEntry, 'seq' | 'step' | 'run' | 'at'>;

/** Far below a ConfigMap's 1 MiB: the journal of one step never fills one. */
const LIMIT_BYTES = 512 * 1024;
let counter = 0;

/** Sorts as written: milliseconds, process, counter. */
function nextSeq(): string {
  counter = (counter + 1) % 1e6;
  return `e.${String(Date.now()).padStart(14, '0')}.${String(process.pid).padStart(7, '0')}.${String(counter).padStart(6, '0')}`;
}

const bytes = (data: Record<string, string>): number =>
  Object.entries(data).reduce((n, [k, v]) => n + k.length + Buffer.byteLength(v), 0);

export class JournalStore {
  readonly #cluster: KubeCluster;
  readonly #status: StatusStore;
  #run: string | undefined;

  constructor(cluster: KubeCluster, status: StatusStore) {
    this.#cluster = cluster;
    this.#status = status;
  }

  get namespace(): string {
    return this.#status.namespace;
  }

  configMapName(step: string): string {
    return journalConfigMap(this.#status.name, step);
  }

  /** Records the changes before they are made; read back. */
  async record(step: string, changes: JournalChange[]): Promise<void> {
    if (!changes.length) return;
    this.#run ??= (await this.#status.read())?.cutoverLastAttemptStartedAt ?? '';
    const at = new Date().toISOString();
    const name = this.configMapName(step);
    const existing = await this.#read(name);
    // One entry per field (or object) and step: a rerun that changes it again updates `after` and
    // keeps the first `before` — what rollback restores — so the journal is bounded by what the
    // cutover touches, not by how often it ran.
    const earlier = new Map(
      Object.values(existing?.data ?? {}).map((text) => {
        const e = JSON.parse(text) as JournalEntry;
        return [entryKey(e), e] as const;
      }),
    );
    const data: Record<string, string> = {};
    for (const change of changes) {
      const first = earlier.get(entryKey(change));
      const entry: JournalEntry = first
        ? { ...first, run: this.#run, at, after: change.after }
        : { seq: nextSeq(), step, run: this.#run, at, ...change };
      data[entry.seq] = JSON.stringify(entry);
    }
    if (bytes(existing?.data ?? {}) + bytes(data) > LIMIT_BYTES)
      throw new CutoverError(
        'journal-full',
        `the journal of ${step} (ConfigMap ${this.namespace}/${name}) would exceed ${LIMIT_BYTES} bytes; nothing was changed`,
      );
    const written = existing ? await this.#patch(name, data) : await this.#create(name, step, data);
    const lost = Object.keys(data).filter((key) => written.data?.[key] !== data[key]);
    if (lost.length)
      throw new CutoverError(
        'read-back',
        `ConfigMap ${this.namespace}/${name} does not hold the journal entries just written`,
      );
  }

  /** Every entry of every step, oldest first. */
  async entries(): Promise<JournalEntry[]> {
    const maps = await this.#cluster.configMaps(
      this.namespace,
      `${PART_OF_LABEL}=${PART_OF},${COMPONENT_LABEL}=${JOURNAL_COMPONENT}`,
    );
    return maps
      .filter((cm) => cm.metadata?.name?.startsWith(journalConfigMap(this.#status.name, '')))
      .flatMap((cm) => Object.values(cm.data ?? {}).map((text) => JSON.parse(text) as JournalEntry))
      .sort((a, b) => (a.seq < b.seq ? -1 : a.seq > b.seq ? 1 : 0));
  }

  /**
   * Empties the journal (after a rollback: a later cutover starts clean). The ConfigMaps stay: the
   * install ships them, so the runner never needs to create one.
   */
  async clear(): Promise<void> {
    const byStep = new Map<string, Record<string, null>>();
    for (const e of await this.entries()) byStep.set(e.step, { ...byStep.get(e.step), [e.seq]: null });
    for (const [step, data] of byStep) await this.#patch(this.configMapName(step), data as never);
  }

  async #read(name: string): Promise<V1ConfigMap | undefined> {
    try {
      return await this.#cluster.core.readNamespacedConfigMap({ name, namespace: this.namespace });
    } catch (error) {
      if (kubeStatus(error) === 404) return undefined;
      throw kubeError('GET', `configmaps/${this.namespace}/${name}`, error);
    }
  }

  async #patch(name: string, data: Record<string, string>): Promise<V1ConfigMap> {
    return await this.#cluster.core
      .patchNamespacedConfigMap({ name, namespace: this.namespace, body: { data } }, mergePatch)
      .catch((error: unknown) => {
        throw kubeError('PATCH', `configmaps/${this.namespace}/${name}`, error);
      });
  }

  async #create(name: string, step: string, data: Record<string, string>): Promise<V1ConfigMap> {
    try {
      return await this.#cluster.core.createNamespacedConfigMap({
        namespace: this.namespace,
        body: {
          metadata: {
            name,
            labels: { [PART_OF_LABEL]: PART_OF, [COMPONENT_LABEL]: JOURNAL_COMPONENT, [JOURNAL_STEP_LABEL]: step },
          },
          data,
        },
      });
    } catch (error) {
      // Another writer created it first (a pod of the same step): add to theirs.
      if (kubeStatus(error) === 409) return await this.#patch(name, data);
      throw kubeError('POST', `configmaps/${this.namespace}/${name}`, error);
    }
  }
}
