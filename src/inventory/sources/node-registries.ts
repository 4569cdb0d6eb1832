// Each node's registry routes as its agent reports them (its report ConfigMap in the agent's
// namespace, `registryHosts`): a host a node still resolves outside the local Harbor is a tether.
import { NodeReports } from '../../adapters/kube/node-reports.ts';
import { redactUrl } from '../../core/errors.ts';
import { type AgentRegistryReport } from '../../core/contracts.ts';
import type { Tether } from '../../core/tether.ts';
import type { NodeRoutes } from '../image-tethers.ts';
import type { SourceContext, TetherSource } from './source.ts';

/** Reads the agents' reports; read before the other sources, as an image's pivoted state needs them. */
export async function readNodeRoutes(
  ctx: Pick<SourceContext, 'cluster' | 'values' | 'cannotRead' | 'unreadable'>,
  namespace: string,
): Promise<NodeRoutes> {
  const reports = NodeReports.forInstall(ctx.cluster, ctx.values, namespace);
  const routes = new Map<string, AgentRegistryReport>();
  const listed = await reports.list().catch((error: unknown) => {
    // Anything but "none yet" leaves the node rows unknown.
    ctx.cannotRead(`ConfigMaps ${reports.namespace} (node registry reports)`, error);
    return [];
  });
  for (const r of listed) {
    if (r.registryHosts) routes.set(r.node, r.registryHosts);
    else ctx.unreadable.push(`node ${r.node}: registry report is not JSON`);
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
