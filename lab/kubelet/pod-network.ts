// Every pod's network, as a CNI bridge plugin makes it: a network namespace of its own with `eth0`
// (a veth whose other end is on its node's bridge), an address from the node's subnet, a default
// route through the bridge. Containers run inside it; the address is the pod's `status.podIP`.
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { NODE_NETWORKS, type NodeName } from '../topology.ts';

const NETNS_DIR = '/run/netns';
const NETNS_PREFIX = 'labpod-';

export interface PodAddress {
  /** The namespace's name (under /run/netns). */
  netns: string;
  ip: string;
}

function ip(args: string[], input?: string): void {
  execFileSync('ip', args, { input, stdio: ['pipe', 'ignore', 'pipe'] });
}

export class PodNetwork {
  /** Host numbers in use on each node's subnet (.1 is the bridge). */
  readonly #used = new Map<string, Set<number>>();
  /** Where each node's next search starts: addresses go round, so one just freed is not handed out at once. */
  readonly #next = new Map<string, number>();
  /** Live namespaces → their node and host number (detach is idempotent). */
  readonly #attached = new Map<string, { node: NodeName; host: number }>();

  /** The netns path a process joins to run in the pod's network. */
  static path(a: PodAddress): string {
    return `${NETNS_DIR}/${a.netns}`;
  }

  /** Gives the pod its namespace and address on `node` (a leftover namespace of the same pod is replaced). */
  attach(uid: string, node: NodeName): PodAddress {
    const net = NODE_NETWORKS[node];
    const used = this.#used.get(node) ?? new Set<number>();
    this.#used.set(node, used);
    if (used.size >= 253) throw new Error(`node ${node}: no free address left in ${net.subnet}`);
    let host = this.#next.get(node) ?? 2;
    while (used.has(host)) host = host >= 254 ? 2 : host + 1;
    this.#next.set(node, host >= 254 ? 2 : host + 1);
    used.add(host);
    const id = uid.replaceAll('-', '').slice(0, 12);
    const netns = `${NETNS_PREFIX}${id}`;
    const address = `${net.subnet.split('.').slice(0, 3).join('.')}.${host}`;
    try {
      if (existsSync(`${NETNS_DIR}/${netns}`)) ip(['netns', 'del', netns]);
      ip(
        ['-batch', '-'],
        [
          `netns add ${netns}`,
          `link add lv${id} type veth peer name eth0 netns ${netns}`,
          `link set lv${id} master ${net.bridge} up`,
          // An address used before may still sit in the host's neighbour table with the old pod's MAC (as
          // the CNI bridge plugin's gratuitous ARP does, the host must learn the new one).
          `neigh flush to ${address} dev ${net.bridge}`,
        ].join('\n'),
      );
      ip(
        ['-n', netns, '-batch', '-'],
        [
          'link set lo up',
          `addr add ${address}/24 dev eth0`,
          'link set eth0 up',
          `route add default via ${net.gateway}`,
        ].join('\n'),
      );
    } catch (error) {
      used.delete(host);
      throw new Error(`pod network for ${uid} on ${node}: ${String((error as { stderr?: Buffer }).stderr ?? error)}`, {
        cause: error,
      });
    }
    this.#attached.set(netns, { node, host });
    return { netns, ip: address };
  }

  /** Removes the pod's namespace (its veth goes with it) and frees its address; once. */
  detach(a: PodAddress): void {
    const attached = this.#attached.get(a.netns);
    if (!attached) return;
    this.#attached.delete(a.netns);
    this.#used.get(attached.node)?.delete(attached.host);
    try {
      ip(['netns', 'del', a.netns]);
    } catch {
      // already gone
    }
  }

  /** Removes every pod namespace the lab kubelet made (at start: its pods are run anew; at stop). */
  static removeAll(): void {
    if (!existsSync(NETNS_DIR)) return;
    for (const name of readdirSync(NETNS_DIR).filter((n) => n.startsWith(NETNS_PREFIX))) {
      try {
        ip(['netns', 'del', name]);
      } catch {
        // in use by a process that is exiting: its namespace goes with it
      }
    }
  }
}
