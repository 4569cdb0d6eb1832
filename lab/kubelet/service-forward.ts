// The host's way in to a Service whose pods live on the lab network, as `kubectl port-forward
// svc/NAME` is: a listener on 127.0.0.1 whose every connection goes to a ready endpoint of the
// Service, read from its EndpointSlices at connect time (so a new pod is picked up at once).
import { connect, createServer, type Server } from 'node:net';
import type { KubeCluster } from '../../src/adapters/kube/cluster.ts';
import { log } from './log.ts';

export interface ServiceForwardConfig {
  listenPort: number;
  namespace: string;
  service: string;
  /** The Service port's name. */
  port: string;
}

export class ServiceForward {
  readonly #kube: KubeCluster;
  readonly #config: ServiceForwardConfig;
  #server: Server | undefined;

  constructor(kube: KubeCluster, config: ServiceForwardConfig) {
    this.#kube = kube;
    this.#config = config;
  }

  async start(): Promise<void> {
    const { listenPort, namespace, service } = this.#config;
    this.#server = createServer((client) => {
      client.pause();
      this.#endpoint().then(
        (target) => {
          if (!target) return client.destroy();
          const upstream = connect(target.port, target.ip);
          client.pipe(upstream).pipe(client);
          upstream.on('error', () => client.destroy());
          client.on('error', () => upstream.destroy());
          client.resume();
        },
        (error: unknown) => {
          log(`forward ${namespace}/${service}: ${String(error)}`);
          client.destroy();
        },
      );
    });
    await new Promise<void>((resolve, reject) => {
      this.#server?.once('error', reject);
      this.#server?.listen(listenPort, '127.0.0.1', resolve);
    });
  }

  stop(): void {
    this.#server?.close();
  }

  async #endpoint(): Promise<{ ip: string; port: number } | undefined> {
    const { namespace, service, port } = this.#config;
    const slices = await this.#kube.discovery.listNamespacedEndpointSlice({
      namespace,
      labelSelector: `kubernetes.io/service-name=${service}`,
    });
    for (const slice of slices.items) {
      const target = slice.ports?.find((p) => p.name === port)?.port;
      const ready = slice.endpoints.find((e) => e.conditions?.ready !== false && e.addresses.length);
      if (target && ready) return { ip: ready.addresses[0] as string, port: target };
    }
    return undefined;
  }
}
