// ConfigMap values naming an upstream URL. The cutover's own configuration names its upstreams on
// purpose: those rows are exempt.
import { PART_OF, PART_OF_LABEL } from '../../core/contracts.ts';
import type { Tether } from '../../core/tether.ts';
import { upstreamURLs, urlTether } from '../upstream-hosts.ts';
import type { TetherSource } from './source.ts';

const OWN_REASON = "the cutover's own configuration names its upstreams";

export const configMapSource: TetherSource = {
  name: 'ConfigMaps',
  async collect(ctx) {
    const tethers: Tether[] = [];
    for (const cm of await ctx.list('ConfigMaps', () => ctx.cluster.core.listConfigMapForAllNamespaces())) {
      const object = `ConfigMap ${cm.metadata?.namespace}/${cm.metadata?.name}`;
      const own = cm.metadata?.labels?.[PART_OF_LABEL] === PART_OF;
      for (const [key, value] of Object.entries(cm.data ?? {})) {
        for (const url of upstreamURLs(value, ctx.hosts))
          tethers.push(
            urlTether(
              ctx.hosts,
              'configmap',
              object,
              `data[${JSON.stringify(key)}]`,
              url,
              own ? OWN_REASON : undefined,
            ),
          );
      }
    }
    return tethers;
  },
};
