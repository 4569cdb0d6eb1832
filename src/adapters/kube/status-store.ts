// The status ConfigMap: created once with the contract's initial data, then only ever
// merge-patched on `.data` — an upgrade or a second engine never resets live status.
import { initialStatus } from '../../core/status.ts';
import type { StatusData } from '../../core/contracts.ts';
import type { V1ConfigMap } from '@kubernetes/client-node';
import { kubeError, kubeStatus, mergePatch, type KubeCluster } from './cluster.ts';
import { watchOne } from './watch-one.ts';

export class StatusStore {
  readonly #cluster: KubeCluster;
  readonly namespace: string;
  readonly name: string;

  constructor(cluster: KubeCluster, namespace: string, name: string) {
    this.#cluster = cluster;
    this.namespace = namespace;
    this.name = name;
  }

  /**
   * Reads the status; creates it with the initial data when it does not exist yet, and adds any
   * initial key it lacks (the dormant install ships it without data, so re-applying the install
   * can never reset live status). Keys already present are never touched.
   */
  async ensure(): Promise<StatusData> {
    const existing = await this.read();
    if (existing) {
      const missing = Object.fromEntries(Object.entries(initialStatus()).filter(([key]) => !(key in existing)));
      return Object.keys(missing).length ? await this.patch(missing) : existing;
    }
    try {
      await this.#cluster.core.createNamespacedConfigMap({
        namespace: this.namespace,
        body: {
          metadata: {
            name: this.name,
            labels: {
              'app.kubernetes.io/part-of': 'self-sovereign-cutover',
              'app.kubernetes.io/component': 'cutover-status',
            },
          },
          data: initialStatus(),
        },
      });
    } catch (error) {
      // Someone else created it first: theirs stands.
      if (kubeStatus(error) !== 409) throw kubeError('POST', `configmaps/${this.namespace}/${this.name}`, error);
    }
    return (await this.read()) ?? initialStatus();
  }

  async read(): Promise<StatusData | undefined> {
    return (await this.readVersioned())?.data;
  }

  /** The data with the version it was read at, for a compare-and-swap (`patchIfUnchanged`). */
  async readVersioned(): Promise<{ data: StatusData; version: string } | undefined> {
    try {
      const cm = await this.#cluster.core.readNamespacedConfigMap({ name: this.name, namespace: this.namespace });
      return { data: cm.data ?? {}, version: cm.metadata?.resourceVersion ?? '' };
    } catch (error) {
      if (kubeStatus(error) === 404) return undefined;
      throw kubeError('GET', `configmaps/${this.namespace}/${this.name}`, error);
    }
  }

  /**
   * Waits (one watch, no polling) until the status changes after `version`, `timeoutMs` passes or
   * `signal` aborts; the caller reads again. What many node agents do at once: a watch each costs the
   * apiserver one request per timeout, where a read every few seconds costs one per read.
   */
  waitForChange(
    version: string,
    o: { signal: AbortSignal; timeoutMs: number; changed?: (data: StatusData) => boolean },
  ): Promise<void> {
    return watchOne<V1ConfigMap>(
      this.#cluster,
      `/api/v1/namespaces/${this.namespace}/configmaps`,
      this.name,
      version,
      (cm) => cm.metadata?.resourceVersion !== version && (o.changed?.(cm.data ?? {}) ?? true),
      o,
    );
  }

  /** Merge-patches `data` only if nobody wrote since `version` was read; false when someone did (409). */
  async patchIfUnchanged(version: string, data: StatusData): Promise<boolean> {
    try {
      await this.#cluster.core.patchNamespacedConfigMap(
        { name: this.name, namespace: this.namespace, body: { metadata: { resourceVersion: version }, data } },
        mergePatch,
      );
      return true;
    } catch (error) {
      if (kubeStatus(error) === 409) return false;
      throw kubeError('PATCH', `configmaps/${this.namespace}/${this.name}`, error);
    }
  }

  /** Removes keys from `.data` (a merge patch of nulls). */
  async remove(keys: string[]): Promise<void> {
    if (!keys.length) return;
    try {
      await this.#cluster.core.patchNamespacedConfigMap(
        { name: this.name, namespace: this.namespace, body: { data: Object.fromEntries(keys.map((k) => [k, null])) } },
        mergePatch,
      );
    } catch (error) {
      throw kubeError('PATCH', `configmaps/${this.namespace}/${this.name}`, error);
    }
  }

  /** Merge-patches the given keys of `.data` and reads the result back. */
  async patch(data: StatusData): Promise<StatusData> {
    try {
      const cm = await this.#cluster.core.patchNamespacedConfigMap(
        { name: this.name, namespace: this.namespace, body: { data } },
        mergePatch,
      );
      return cm.data ?? {};
    } catch (error) {
      throw kubeError('PATCH', `configmaps/${this.namespace}/${this.name}`, error);
    }
  }
}
