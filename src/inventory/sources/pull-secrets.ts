// dockerconfigjson pull Secrets with an entry for an upstream registry. Only the host is shown: a
// credential never reaches a row.
import { parseDockerConfig, registryHost, type DockerConfig } from '../../core/docker-config.ts';
import type { Tether } from '../../core/tether.ts';
import type { TetherSource } from './source.ts';

export const pullSecretSource: TetherSource = {
  name: 'pull Secrets',
  async collect(ctx) {
    const secrets = await ctx.list('Secrets (kubernetes.io/dockerconfigjson)', () =>
      ctx.cluster.core.listSecretForAllNamespaces({ fieldSelector: 'type=kubernetes.io/dockerconfigjson' }),
    );
    const tethers: Tether[] = [];
    for (const s of secrets) {
      let config: DockerConfig;
      try {
        config = parseDockerConfig(s.data?.['.dockerconfigjson'] ?? '', 'base64');
      } catch {
        // Not a document at all: nothing in it can name a registry.
        continue;
      }
      for (const key of Object.keys(config.auths)) {
        const host = registryHost(key);
        if (!ctx.hosts.upstream.has(host)) continue;
        tethers.push({
          kind: 'pull-secret',
          object: `Secret ${s.metadata?.namespace}/${s.metadata?.name}`,
          field: `.dockerconfigjson auths[${JSON.stringify(key)}]`,
          upstream: host,
          local: '',
          state: 'tethered',
        });
      }
    }
    return tethers;
  },
};
