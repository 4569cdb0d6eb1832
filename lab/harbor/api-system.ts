// Harbor API: ping, health and system info — what clients call before anything else.
import { registryUrl } from '../registry.ts';
import type { Handler } from './http.ts';

const VERSION = 'v2.11.0-lab-double';

export const systemHandlers: Record<string, Handler> = {
  getPing: () => ({ status: 200, body: 'Pong' }),
  getHealth: async ({ backends }) => {
    const store = await fetch(`${registryUrl(backends.store)}/v2/`).then(
      (r) => r.ok,
      () => false,
    );
    return {
      status: 200,
      body: {
        status: store ? 'healthy' : 'unhealthy',
        components: [
          { name: 'core', status: 'healthy' },
          {
            name: 'registry',
            status: store ? 'healthy' : 'unhealthy',
            ...(store ? {} : { error: 'registry store unreachable' }),
          },
        ],
      },
    };
  },
  getSystemInfo: ({ admin, externalUrl }) => ({
    status: 200,
    body: {
      harbor_version: VERSION,
      external_url: externalUrl,
      registry_url: new URL(externalUrl).host,
      auth_mode: 'db_auth',
      current_time: new Date().toISOString(),
      ...(admin ? { registry_storage_provider_name: 'filesystem', self_registration: false, read_only: false } : {}),
    },
  }),
};
