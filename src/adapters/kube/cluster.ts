// The Kubernetes adapter: one KubeConfig (in-cluster ServiceAccount, $KUBECONFIG or --kubeconfig)
// and the typed clients of @kubernetes/client-node, plus the few helpers every caller needs.
import {
  AuthenticationV1Api,
  AuthorizationV1Api,
  AppsV1Api,
  BatchV1Api,
  CoordinationV1Api,
  CoreV1Api,
  createConfiguration,
  CustomObjectsApi,
  DiscoveryV1Api,
  EventsV1Api,
  KubeConfig,
  NetworkingV1Api,
  PatchStrategy,
  ServerConfiguration,
  setHeaderOptions,
  type RequestContext,
  type V1ConfigMap,
} from '@kubernetes/client-node';
import { CutoverError, PeerError } from '../../core/errors.ts';

export const mergePatch = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);

/**
 * Every Kubernetes call but a watch gets this deadline (watches are bounded by their own timeouts):
 * a stalled connection to the apiserver fails the call — a transient error the caller retries —
 * instead of hanging a step, a Lease renewal or the guard.
 */
export const KUBE_CALL_TIMEOUT_MS = 30_000;

/** The typed clients' configuration: the kubeconfig's authentication, plus the call deadline. */
export function withDeadline(config: KubeConfig, timeoutMs: number) {
  const server = config.getCurrentCluster()?.server;
  if (!server) throw new Error('No active cluster!');
  return createConfiguration({
    baseServer: new ServerConfiguration(server, {}),
    authMethods: {
      default: {
        getName: () => 'kubeconfig-with-deadline',
        applySecurityAuthentication: async (context: RequestContext) => {
          await config.applySecurityAuthentication(context);
          if (!context.getSignal()) context.setSignal(AbortSignal.timeout(timeoutMs));
        },
      },
    },
  });
}

export class KubeCluster {
  readonly config: KubeConfig;
  readonly core: CoreV1Api;
  readonly apps: AppsV1Api;
  readonly batch: BatchV1Api;
  readonly coordination: CoordinationV1Api;
  readonly custom: CustomObjectsApi;
  readonly discovery: DiscoveryV1Api;
  readonly networking: NetworkingV1Api;
  readonly authentication: AuthenticationV1Api;
  readonly authorization: AuthorizationV1Api;
  readonly events: EventsV1Api;

  /** `timeoutMs`: the deadline of each call (KUBE_CALL_TIMEOUT_MS). */
  constructor(config: KubeConfig, timeoutMs = KUBE_CALL_TIMEOUT_MS) {
    this.config = config;
    const api = withDeadline(config, timeoutMs);
    this.core = new CoreV1Api(api);
    this.apps = new AppsV1Api(api);
    this.batch = new BatchV1Api(api);
    this.coordination = new CoordinationV1Api(api);
    this.custom = new CustomObjectsApi(api);
    this.discovery = new DiscoveryV1Api(api);
    this.networking = new NetworkingV1Api(api);
    this.authentication = new AuthenticationV1Api(api);
    this.authorization = new AuthorizationV1Api(api);
    this.events = new EventsV1Api(api);
  }

  /**
   * In-cluster identity when running in a pod, else --kubeconfig, else $KUBECONFIG / ~/.kube/config;
   * `context` (kubectl's --context) picks one of the file's contexts instead of its current one.
   */
  static connect(kubeconfig?: string, context?: string): KubeCluster {
    const config = new KubeConfig();
    if (kubeconfig) config.loadFromFile(kubeconfig);
    else config.loadFromDefault();
    if (context) {
      if (!config.getContextObject(context))
        throw new CutoverError(
          'usage',
          `no context "${context}" in the kubeconfig (it has: ${
            config
              .getContexts()
              .map((c) => c.name)
              .join(', ') || 'none'
          })`,
        );
      config.setCurrentContext(context);
    }
    return new KubeCluster(config);
  }

  get server(): string {
    return this.config.getCurrentCluster()?.server ?? '';
  }

  /** The kubeconfig context in use ('' in a pod). */
  get context(): string {
    return this.config.getCurrentContext() ?? '';
  }

  /** Secret data, decoded. */
  async secretData(namespace: string, name: string): Promise<Record<string, string>> {
    const secret = await this.core.readNamespacedSecret({ name, namespace }).catch((error: unknown) => {
      throw kubeError('GET', `secrets/${namespace}/${name}`, error);
    });
    return Object.fromEntries(
      Object.entries(secret.data ?? {}).map(([k, v]) => [k, Buffer.from(v, 'base64').toString('utf8')]),
    );
  }

  /** Secret data, decoded; undefined when there is no such Secret (any other failure throws). */
  async secretDataIfExists(namespace: string, name: string): Promise<Record<string, string> | undefined> {
    return await this.secretData(namespace, name).catch((error: unknown) => {
      if (error instanceof PeerError && error.status === 404) return undefined;
      throw error;
    });
  }

  /** The ConfigMaps of a namespace that match a label selector. */
  async configMaps(namespace: string, labelSelector: string): Promise<V1ConfigMap[]> {
    const list = await this.core.listNamespacedConfigMap({ namespace, labelSelector }).catch((error: unknown) => {
      throw kubeError('GET', `configmaps/${namespace}?labelSelector=${labelSelector}`, error);
    });
    return list.items;
  }

  /** Merge-patches the given keys of a Secret's data (plain text in, base64 on the wire). */
  async mergeSecretData(namespace: string, name: string, data: Record<string, string>): Promise<void> {
    const encoded = Object.fromEntries(Object.entries(data).map(([k, v]) => [k, Buffer.from(v).toString('base64')]));
    await this.core.patchNamespacedSecret({ name, namespace, body: { data: encoded } }, mergePatch).catch((error) => {
      throw kubeError('PATCH', `secrets/${namespace}/${name}`, error);
    });
  }

  /** Who a bearer token belongs to, by TokenReview: "" when it is not authenticated. */
  async tokenUser(token: string): Promise<string> {
    const review = await this.authentication
      .createTokenReview({ body: { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview', spec: { token } } })
      .catch((error: unknown) => {
        throw kubeError('POST', 'tokenreviews', error);
      });
    return review.status?.authenticated ? (review.status.user?.username ?? '') : '';
  }

  /** Who the apiserver says this client is (SelfSubjectReview): what an approval made from the CLI records. */
  async whoAmI(): Promise<string> {
    const review = await this.authentication
      .createSelfSubjectReview({ body: { apiVersion: 'authentication.k8s.io/v1', kind: 'SelfSubjectReview' } })
      .catch((error: unknown) => {
        throw kubeError('POST', 'selfsubjectreviews', error);
      });
    return review.status?.userInfo?.username ?? '';
  }
}

/** One permission, as SelfSubjectAccessReview asks it (kubectl auth can-i). */
export interface Permission {
  verb: string;
  group: string;
  resource: string;
  namespace?: string;
  name?: string;
}

/** Whether the identity this client runs as may do it (SelfSubjectAccessReview). */
export async function canI(cluster: KubeCluster, p: Permission): Promise<boolean> {
  const review = await cluster.authorization
    .createSelfSubjectAccessReview({
      body: {
        apiVersion: 'authorization.k8s.io/v1',
        kind: 'SelfSubjectAccessReview',
        spec: {
          resourceAttributes: {
            verb: p.verb,
            group: p.group,
            resource: p.resource,
            ...(p.namespace ? { namespace: p.namespace } : {}),
            ...(p.name ? { name: p.name } : {}),
          },
        },
      },
    })
    .catch((error: unknown) => {
      throw kubeError('POST', 'selfsubjectaccessreviews', error);
    });
  return review.status?.allowed === true;
}

/**
 * Lease times are MicroTime: RFC 3339 with exactly six fractional digits. client-node would send a
 * Date with three, which the API server rejects, so leases are written with merge patches carrying this.
 */
export function microTime(date: Date): string {
  return date.toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}

/** The HTTP status of a client-node error (0 when there was no HTTP answer). */
export function kubeStatus(error: unknown): number {
  const code = (error as { code?: unknown }).code;
  return typeof code === 'number' ? code : 0;
}

/** A client-node failure as a PeerError (method, resource, status, server message — never a token). */
export function kubeError(method: string, resource: string, error: unknown): PeerError {
  const body = (error as { body?: unknown }).body;
  let message = error instanceof Error ? (error.message.split('\n')[0] ?? '') : String(error);
  if (typeof body === 'string') {
    try {
      message = (JSON.parse(body) as { message?: string }).message ?? message;
    } catch {
      message = body;
    }
  }
  return new PeerError(method, resource, kubeStatus(error), message, { cause: error });
}
