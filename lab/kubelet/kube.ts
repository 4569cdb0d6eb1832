// The lab kubelet's view of the API: typed clients from @kubernetes/client-node, and the
// merge-patch option every status write uses.
import { AppsV1Api, CoordinationV1Api, CoreV1Api, KubeConfig, NetworkingV1Api, PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';

export interface Kube {
  config: KubeConfig;
  core: CoreV1Api;
  coordination: CoordinationV1Api;
  apps: AppsV1Api;
  networking: NetworkingV1Api;
}

export function connect(kubeconfigPath: string): Kube {
  const config = new KubeConfig();
  config.loadFromFile(kubeconfigPath);
  return { config, core: config.makeApiClient(CoreV1Api), coordination: config.makeApiClient(CoordinationV1Api), apps: config.makeApiClient(AppsV1Api), networking: config.makeApiClient(NetworkingV1Api) };
}

export const mergePatch = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);

/** The HTTP status of a client-node error (0 when there was no HTTP answer). */
export function statusOf(error: unknown): number {
  const code = (error as { code?: unknown }).code;
  return typeof code === 'number' ? code : 0;
}
