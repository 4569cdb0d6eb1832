// What every tether source is given and gives back. Which sources run is decided once, by scope,
// where the inventory composes them (../tethers.ts).
import { kubeStatus, type KubeCluster } from '../../adapters/kube/cluster.ts';
import type { Tether } from '../../core/tether.ts';
import type { Values } from '../../core/values.ts';
import type { ImageTethers } from '../image-tethers.ts';
import type { UpstreamHosts } from '../upstream-hosts.ts';

export interface TetherSource {
  /** What it reads, e.g. `workloads`, `flux`. */
  name: string;
  collect(ctx: SourceContext): Promise<Tether[]>;
}

export interface SourceContext {
  cluster: KubeCluster;
  values: Values;
  hosts: UpstreamHosts;
  /** Image references as tethers, with digests and presence asked once across sources. */
  images: ImageTethers;
  /** Lists a source; a missing API (CRD not installed) is no source, any other failure is reported. */
  list<T>(what: string, list: () => Promise<{ items: T[] }>): Promise<T[]>;
  /** Reports a source (or object) the inventory could not read. */
  cannotRead(what: string, error: unknown): void;
  /** Read failures so far, as the summary shows them. */
  unreadable: string[];
  /**
   * ReplicaSets a Deployment keeps at zero replicas as rollout history → that Deployment: found while
   * listing workloads, used to exempt their tethers once every source is read.
   */
  rolloutHistory: Map<string, string>;
}

/** A read failure as the summary shows it: the HTTP status when the API answered, else the message. */
export function readFailure(what: string, error: unknown): string {
  const status = kubeStatus(error);
  return `${what}: ${status ? `HTTP ${status}` : error instanceof Error ? error.message : String(error)}`;
}

/** The shared reading helpers, reporting into `unreadable`. */
export function sourceReads(unreadable: string[]): Pick<SourceContext, 'list' | 'cannotRead' | 'unreadable'> {
  const cannotRead = (what: string, error: unknown): void => {
    unreadable.push(readFailure(what, error));
  };
  return {
    unreadable,
    cannotRead,
    async list<T>(what: string, list: () => Promise<{ items: T[] }>): Promise<T[]> {
      try {
        return (await list()).items;
      } catch (error) {
        if (kubeStatus(error) !== 404) cannotRead(what, error);
        return [];
      }
    },
  };
}
