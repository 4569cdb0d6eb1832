// A JSON document kept gzipped in one ConfigMap by name (`binaryData`): what the controller writes for
// the API to read (the tether inventory, ADR 0021). Written by server-side apply — create or update in
// one request, so the writer needs create and patch on that name only — and read back.
import { gunzipSync, gzipSync } from 'node:zlib';
import type { KubernetesObject, V1ConfigMap } from '@kubernetes/client-node';
import { COMPONENT_LABEL, PART_OF, PART_OF_LABEL } from '../../core/contracts.ts';
import { CutoverError } from '../../core/errors.ts';
import { serverSideApply } from './apply.ts';
import { kubeError, kubeStatus, type KubeCluster } from './cluster.ts';
import { watchOne } from './watch-one.ts';

const KEY = 'document.json.gz';
/** A ConfigMap holds at most 1 MiB; the rest of the object needs a little of it. */
export const PACKED_MAX_BYTES = 1_000_000;

export class PackedConfigMap {
  readonly #cluster: KubeCluster;
  readonly namespace: string;
  readonly name: string;
  readonly #component: string;

  constructor(cluster: KubeCluster, namespace: string, name: string, component: string) {
    this.#cluster = cluster;
    this.namespace = namespace;
    this.name = name;
    this.#component = component;
  }

  /** The gzipped document, or undefined when it does not fit (the caller sends less). */
  static pack(document: unknown): Buffer | undefined {
    const packed = gzipSync(JSON.stringify(document));
    return packed.length <= PACKED_MAX_BYTES ? packed : undefined;
  }

  /** The document (undefined while none was written) and the version to watch from; undefined: no ConfigMap. */
  async read(): Promise<{ document: unknown; version: string } | undefined> {
    let cm: V1ConfigMap;
    try {
      cm = await this.#cluster.core.readNamespacedConfigMap({ name: this.name, namespace: this.namespace });
    } catch (error) {
      if (kubeStatus(error) === 404) return undefined;
      throw kubeError('GET', `configmaps/${this.namespace}/${this.name}`, error);
    }
    const packed = cm.binaryData?.[KEY];
    return {
      document: packed
        ? (JSON.parse(gunzipSync(Buffer.from(packed, 'base64')).toString('utf8')) as unknown)
        : undefined,
      version: cm.metadata?.resourceVersion ?? '',
    };
  }

  /** Writes a document `pack` said fits; reads it back. */
  async write(packed: Buffer, fieldManager: string): Promise<void> {
    const object = {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: {
        name: this.name,
        namespace: this.namespace,
        labels: { [PART_OF_LABEL]: PART_OF, [COMPONENT_LABEL]: this.#component },
      },
      binaryData: { [KEY]: packed.toString('base64') },
    };
    await serverSideApply(this.#cluster.config, [object as KubernetesObject], fieldManager, { force: true });
    const back = await this.#cluster.core.readNamespacedConfigMap({ name: this.name, namespace: this.namespace });
    if (back.binaryData?.[KEY] !== object.binaryData[KEY])
      throw new CutoverError(
        'read-back',
        `ConfigMap ${this.namespace}/${this.name} does not hold what was just written`,
      );
  }

  /** Waits (one watch) until the ConfigMap changes after `version` ('' : until it exists), the timeout or the signal. */
  waitForChange(version: string, o: { signal: AbortSignal; timeoutMs: number }): Promise<void> {
    return watchOne<V1ConfigMap>(
      this.#cluster,
      `/api/v1/namespaces/${this.namespace}/configmaps`,
      this.name,
      version,
      (cm) => cm.metadata?.resourceVersion !== version,
      o,
    );
  }
}
