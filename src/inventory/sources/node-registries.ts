// Each node's registry routes as its agent reports them (the status ConfigMap's
// `node.<name>.registryHosts`): a host a node still resolves outside the local Harbor is a tether.
import { kubeStatus } from '../../adapters/kube/cluster.ts';
import { redactUrl } from '../../core/errors.ts';
import { nodeRegistryKey, type AgentRegistryReport } from '../../core/contracts.ts';
import type { Tether } from '../../core/tether.ts';
import type { NodeRoutes } from '../image-tethers.ts';
import type { SourceContext, TetherSource } from './source.ts';

/** Reads the agents' reports; read before the other sources, as an image's pivoted state needs them. */
export async function readNodeRoutes(
  ctx: Pick<SourceContext, 'cluster' | 'values' | 'cannotRead' | 'unreadable'>,
  namespace: string,
): Promise<NodeRoutes> {
  const name = ctx.values.status.configMapName;
  const cm = await ctx.cluster.core.readNamespacedConfigMap({ name, namespace }).catch((error: unknown) => {
    // No status ConfigMap yet: no agent has reported. Anything else leaves the node rows unknown.
    if (kubeStatus(error) !== 404) ctx.cannotRead(`ConfigMap ${namespace}/${name} (node registry reports)`, error);
    return undefined;
  });
  const routes = new Map<string, AgentRegistryReport>();
  for (const [key, value] of Object.entries(cm?.data ?? {})) {
    const node = /^node\.(.+)\.registryHosts$/.exec(key)?.[1];
    if (!node || key !== nodeRegistryKey(node)) continue;
    try {
      routes.set(node, JSON.parse(value) as AgentRegistryReport);
    } catch {
      ctx.unreadable.push(`node ${node}: registry report is not JSON`);
    }
  }
  return routes;
}

/** The routes' tethers: every host a node sends anywhere but the local Harbor. */
export function nodeRegistries(routes: NodeRoutes): TetherSource {
  return {
    name: 'node registry routes',
    async collect(ctx) {
      const tethers: Tether[] = [];
      for (const [node, hostRoutes] of routes) {
        for (const [host, endpoint] of Object.entries(hostRoutes)) {
          if (endpoint.includes(ctx.hosts.harbor)) continue;
          const row = ctx.hosts.rows.find((r) => r.host === host);
          tethers.push({
            kind: 'node-registry',
            object: `Node ${node}`,
            field: `certs.d/${host}/hosts.toml`,
            upstream: redactUrl(endpoint || host),
            local: row ? `${ctx.values.sovereign.harborPublicURL}/v2/${row.project}` : '',
            state: 'tethered',
          });
        }
      }
      return tethers;
    },
  };
}
