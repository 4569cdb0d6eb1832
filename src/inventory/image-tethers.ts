// Image references as tethers (workload images, provider packages): normalised, mapped through the
// host table, digest-resolved, and pivoted when every node routes the host locally and the image is
// complete there. Digests and presence are asked once per reference.
import type { DistributionClient } from '../adapters/oci/distribution-client.ts';
import type { Tether, TetherKind, TetherState } from '../core/tether.ts';
import type { HostProject } from '../core/values.ts';
import { formatImageRef, parseImageRef, reference, type ImageRef } from '../core/image-ref.ts';
import type { UpstreamHosts } from './upstream-hosts.ts';

/** Resolves an image tag to its digest (undefined when it cannot). */
export type ResolveDigest = (ref: string, row: HostProject | undefined) => Promise<string | undefined>;
/** Is this image complete in the local Harbor? */
export type PresentLocally = (ref: string, localRepo: string) => Promise<boolean>;
/** Each reporting node's registry routes: upstream host → the endpoint its hosts.toml sends it to. */
export type NodeRoutes = ReadonlyMap<string, Record<string, string>>;

export class ImageTethers {
  readonly #hosts: UpstreamHosts;
  readonly #routes: NodeRoutes;
  readonly #resolveDigest: ResolveDigest | undefined;
  readonly #presentLocally: PresentLocally | undefined;
  readonly #digests = new Map<string, Promise<string | undefined>>();
  readonly #presence = new Map<string, Promise<boolean>>();

  constructor(
    hosts: UpstreamHosts,
    routes: NodeRoutes,
    checks: { resolveDigest?: ResolveDigest; presentLocally?: PresentLocally },
  ) {
    this.#hosts = hosts;
    this.#routes = routes;
    this.#resolveDigest = checks.resolveDigest;
    this.#presentLocally = checks.presentLocally;
  }

  /** The tether an image reference makes; none when it already names a local host. */
  async tether(object: string, field: string, text: string, kind: TetherKind): Promise<Tether | undefined> {
    const ref = parseImageRef(text);
    if (this.#hosts.local.has(ref.host)) return undefined;
    const upstream = formatImageRef(ref);
    const row = this.#hosts.rows.find((r) => r.host === ref.host);
    const local = row
      ? `${this.#hosts.harbor}/${row.project}/${ref.path}${ref.digest ? `@${ref.digest}` : `:${ref.tag ?? 'latest'}`}`
      : '';
    const digest = ref.digest ?? (await this.#digest(upstream, row));
    let state: TetherState = row ? 'tethered' : 'unmapped';
    if (row && this.#nodesPivoted(ref.host) && (await this.#present(ref, row))) state = 'pivoted';
    return { kind, object, field, upstream, digest: digest ?? '', local, state };
  }

  /** Every reporting node resolves `host` through the local Harbor (no report: not pivoted). */
  #nodesPivoted(host: string): boolean {
    if (!this.#routes.size) return false;
    return [...this.#routes.values()].every((routes) => (routes[host] ?? '').includes(this.#hosts.harbor));
  }

  #digest(ref: string, row: HostProject | undefined): Promise<string | undefined> {
    const resolve = this.#resolveDigest;
    if (!resolve) return Promise.resolve(undefined);
    let d = this.#digests.get(ref);
    if (!d) {
      d = resolve(ref, row).catch(() => undefined);
      this.#digests.set(ref, d);
    }
    return d;
  }

  #present(ref: ImageRef, row: HostProject): Promise<boolean> {
    const check = this.#presentLocally;
    if (!check) return Promise.resolve(true);
    const key = `${row.project}/${ref.path}@${reference(ref)}`;
    let p = this.#presence.get(key);
    if (!p) {
      p = check(reference(ref), `${row.project}/${ref.path}`).catch(() => false);
      this.#presence.set(key, p);
    }
    return p;
  }
}

/** Resolves tags through the registries: the local Harbor for what is already there, else upstream. */
export function digestResolver(
  local: DistributionClient,
  upstream: (row: HostProject) => DistributionClient,
): ResolveDigest {
  return async (text, row) => {
    const ref = parseImageRef(text);
    if (!row) return undefined;
    const here = await local.headManifest(`${row.project}/${ref.path}`, reference(ref)).catch(() => undefined);
    if (here?.digest) return here.digest;
    return (await upstream(row).headManifest(ref.path, reference(ref)))?.digest;
  };
}
