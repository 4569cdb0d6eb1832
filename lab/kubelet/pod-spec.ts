// What a container gets from its pod spec: environment (literal, ConfigMap/Secret refs,
// downward API) and volumes materialised as directories on the node.
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type {
  V1Container,
  V1EnvVar,
  V1KeyToPath,
  V1ObjectFieldSelector,
  V1Pod,
  V1Volume,
} from '@kubernetes/client-node';
import type { KubeCluster } from '../../src/adapters/kube/cluster.ts';

export class PodSpecError extends Error {
  readonly reason: string;
  constructor(reason: string, message: string) {
    super(message);
    this.reason = reason;
  }
}

function fieldValue(pod: V1Pod, selector: V1ObjectFieldSelector): string {
  const path = selector.fieldPath;
  switch (path) {
    case 'spec.nodeName':
      return pod.spec?.nodeName ?? '';
    case 'metadata.name':
      return pod.metadata?.name ?? '';
    case 'metadata.namespace':
      return pod.metadata?.namespace ?? '';
    case 'metadata.uid':
      return pod.metadata?.uid ?? '';
    case 'spec.serviceAccountName':
      return pod.spec?.serviceAccountName ?? 'default';
    case 'status.podIP':
      return pod.status?.podIP ?? '';
    case 'status.hostIP':
      return pod.status?.hostIP ?? '';
  }
  const label = /^metadata\.(labels|annotations)\['(.+)'\]$/.exec(path);
  if (label)
    return (label[1] === 'labels' ? pod.metadata?.labels : pod.metadata?.annotations)?.[label[2] as string] ?? '';
  throw new PodSpecError('CreateContainerConfigError', `unsupported fieldRef ${path}`);
}

async function configMapData(
  kube: KubeCluster,
  namespace: string,
  name: string,
  optional: boolean,
): Promise<Record<string, string> | undefined> {
  try {
    return (await kube.core.readNamespacedConfigMap({ name, namespace })).data ?? {};
  } catch {
    if (optional) return undefined;
    throw new PodSpecError('CreateContainerConfigError', `configmap "${name}" not found`);
  }
}

async function secretData(
  kube: KubeCluster,
  namespace: string,
  name: string,
  optional: boolean,
): Promise<Record<string, string> | undefined> {
  try {
    const data = (await kube.core.readNamespacedSecret({ name, namespace })).data ?? {};
    return Object.fromEntries(Object.entries(data).map(([k, v]) => [k, Buffer.from(v, 'base64').toString('utf8')]));
  } catch {
    if (optional) return undefined;
    throw new PodSpecError('CreateContainerConfigError', `secret "${name}" not found`);
  }
}

export async function containerEnv(
  kube: KubeCluster,
  pod: V1Pod,
  container: V1Container,
): Promise<Record<string, string>> {
  const namespace = pod.metadata?.namespace ?? 'default';
  const env: Record<string, string> = {};
  for (const source of container.envFrom ?? []) {
    const data = source.configMapRef
      ? await configMapData(kube, namespace, source.configMapRef.name ?? '', source.configMapRef.optional ?? false)
      : source.secretRef
        ? await secretData(kube, namespace, source.secretRef.name ?? '', source.secretRef.optional ?? false)
        : undefined;
    for (const [k, v] of Object.entries(data ?? {})) env[`${source.prefix ?? ''}${k}`] = v;
  }
  for (const variable of container.env ?? []) {
    const value = await envValue(kube, pod, namespace, variable, env);
    if (value !== undefined) env[variable.name] = value;
  }
  return env;
}

async function envValue(
  kube: KubeCluster,
  pod: V1Pod,
  namespace: string,
  variable: V1EnvVar,
  sofar: Record<string, string>,
): Promise<string | undefined> {
  if (variable.value !== undefined)
    return variable.value.replace(/\$\(([A-Za-z_][A-Za-z0-9_]*)\)/g, (m, name: string) => sofar[name] ?? m);
  const from = variable.valueFrom;
  if (!from) return '';
  if (from.fieldRef) return fieldValue(pod, from.fieldRef);
  if (from.configMapKeyRef) {
    const data = await configMapData(
      kube,
      namespace,
      from.configMapKeyRef.name ?? '',
      from.configMapKeyRef.optional ?? false,
    );
    const value = data?.[from.configMapKeyRef.key];
    if (value === undefined && !from.configMapKeyRef.optional)
      throw new PodSpecError(
        'CreateContainerConfigError',
        `couldn't find key ${from.configMapKeyRef.key} in ConfigMap ${namespace}/${from.configMapKeyRef.name}`,
      );
    return value;
  }
  if (from.secretKeyRef) {
    const data = await secretData(kube, namespace, from.secretKeyRef.name ?? '', from.secretKeyRef.optional ?? false);
    const value = data?.[from.secretKeyRef.key];
    if (value === undefined && !from.secretKeyRef.optional)
      throw new PodSpecError(
        'CreateContainerConfigError',
        `couldn't find key ${from.secretKeyRef.key} in Secret ${namespace}/${from.secretKeyRef.name}`,
      );
    return value;
  }
  return '';
}

export interface NodeHost {
  /** The node's own directory standing for its root filesystem (hostPath volumes land here). */
  hostRoot: string;
  /** Host paths served by a specific node directory (containerd certs.d, k3s registries.yaml dir). */
  hostPathMap: Record<string, string>;
}

export function hostPathFor(node: NodeHost, path: string): string {
  const normalized = path.replace(/\/+$/, '');
  for (const [prefix, dir] of Object.entries(node.hostPathMap)) {
    if (normalized === prefix || normalized.startsWith(`${prefix}/`)) return join(dir, normalized.slice(prefix.length));
  }
  return join(node.hostRoot, normalized);
}

function writeItems(
  dir: string,
  data: Record<string, string>,
  items: V1KeyToPath[] | undefined,
  optional: boolean,
  what: string,
): void {
  mkdirSync(dir, { recursive: true });
  const entries = items?.length
    ? items.map((i) => [i.path, data[i.key], i.key] as const)
    : Object.entries(data).map(([k, v]) => [k, v, k] as const);
  for (const [path, value, key] of entries) {
    if (value === undefined) {
      if (optional) continue;
      throw new PodSpecError('CreateContainerConfigError', `${what} has no key ${key}`);
    }
    mkdirSync(dirname(join(dir, path)), { recursive: true });
    // Atomically, as a kubelet swaps a volume's data: a reader never sees half a file.
    const file = join(dir, path);
    if (existsSync(file) && readFileSync(file, 'utf8') === value) continue;
    writeFileSync(`${file}.tmp`, value);
    renameSync(`${file}.tmp`, file);
  }
}

/**
 * A running pod's ConfigMap and Secret volumes again from the apiserver, as a kubelet refreshes them
 * (its sync period): a changed object reaches the files without a restart. Others are left alone.
 */
export async function refreshVolumes(kube: KubeCluster, pod: V1Pod, podDir: string, node: NodeHost): Promise<void> {
  for (const v of pod.spec?.volumes ?? [])
    if (v.configMap || v.secret) await materialiseVolume(kube, pod, v, podDir, node);
}

/** How the container's process runs, from the pod's and the container's securityContext (the lab image's user is root). */
export interface ContainerSecurity {
  uid: number;
  gid: number;
  readOnlyRoot: boolean;
  dropAllCapabilities: boolean;
  noNewPrivileges: boolean;
}

/** As a kubelet: refuses `runAsNonRoot` with a root user (CreateContainerConfigError). */
export function containerSecurity(pod: V1Pod, c: V1Container): ContainerSecurity {
  const podSc = pod.spec?.securityContext ?? {};
  const sc = c.securityContext ?? {};
  const uid = sc.runAsUser ?? podSc.runAsUser ?? 0;
  if ((sc.runAsNonRoot ?? podSc.runAsNonRoot) && uid === 0)
    throw new PodSpecError(
      'CreateContainerConfigError',
      `container has runAsNonRoot and image will run as root (pod: "${pod.metadata?.name ?? ''}", container: ${c.name})`,
    );
  return {
    uid,
    gid: sc.runAsGroup ?? podSc.runAsGroup ?? uid,
    readOnlyRoot: sc.readOnlyRootFilesystem ?? false,
    dropAllCapabilities: (sc.capabilities?.drop ?? []).includes('ALL'),
    noNewPrivileges: sc.allowPrivilegeEscalation === false,
  };
}

/** Materialises one volume; returns the directory (or file) to bind into the container. */
export async function materialiseVolume(
  kube: KubeCluster,
  pod: V1Pod,
  volume: V1Volume,
  podDir: string,
  node: NodeHost,
): Promise<string> {
  const namespace = pod.metadata?.namespace ?? 'default';
  const dir = join(podDir, 'volumes', volume.name);
  if (volume.hostPath) {
    const target = hostPathFor(node, volume.hostPath.path);
    const type = volume.hostPath.type ?? '';
    if (type !== 'File' && type !== 'FileOrCreate') mkdirSync(target, { recursive: true });
    return target;
  }
  if (volume.emptyDir) {
    // World-writable, as a kubelet makes it: a non-root container writes its temporary files here.
    mkdirSync(dir, { recursive: true });
    chmodSync(dir, 0o777);
    return dir;
  }
  if (volume.configMap) {
    const data = await configMapData(kube, namespace, volume.configMap.name ?? '', volume.configMap.optional ?? false);
    writeItems(
      dir,
      data ?? {},
      volume.configMap.items,
      volume.configMap.optional ?? false,
      `configmap ${volume.configMap.name}`,
    );
    return dir;
  }
  if (volume.secret) {
    const data = await secretData(kube, namespace, volume.secret.secretName ?? '', volume.secret.optional ?? false);
    writeItems(
      dir,
      data ?? {},
      volume.secret.items,
      volume.secret.optional ?? false,
      `secret ${volume.secret.secretName}`,
    );
    return dir;
  }
  if (volume.downwardAPI) {
    const data = Object.fromEntries(
      (volume.downwardAPI.items ?? []).map((i) => [i.path, i.fieldRef ? fieldValue(pod, i.fieldRef) : '']),
    );
    writeItems(dir, data, undefined, false, 'downwardAPI');
    return dir;
  }
  if (volume.projected) {
    mkdirSync(dir, { recursive: true });
    for (const source of volume.projected.sources ?? []) {
      if (source.serviceAccountToken) {
        // The pod's identity, exactly as a kubelet gets it: a bound token from TokenRequest.
        const token = await kube.core.createNamespacedServiceAccountToken({
          name: pod.spec?.serviceAccountName ?? 'default',
          namespace,
          body: {
            spec: {
              audiences: source.serviceAccountToken.audience ? [source.serviceAccountToken.audience] : [],
              expirationSeconds: source.serviceAccountToken.expirationSeconds ?? 3607,
              boundObjectRef: {
                apiVersion: 'v1',
                kind: 'Pod',
                name: pod.metadata?.name ?? '',
                uid: pod.metadata?.uid ?? '',
              },
            },
          },
        });
        // The volume's defaultMode (0644 unless set), so a non-root container can read its identity.
        writeFileSync(join(dir, source.serviceAccountToken.path), token.status?.token ?? '', {
          mode: volume.projected.defaultMode ?? 0o644,
        });
      } else if (source.configMap) {
        const data = await configMapData(
          kube,
          namespace,
          source.configMap.name ?? '',
          source.configMap.optional ?? false,
        );
        writeItems(
          dir,
          data ?? {},
          source.configMap.items,
          source.configMap.optional ?? false,
          `configmap ${source.configMap.name}`,
        );
      } else if (source.secret) {
        const data = await secretData(kube, namespace, source.secret.name ?? '', source.secret.optional ?? false);
        writeItems(
          dir,
          data ?? {},
          source.secret.items,
          source.secret.optional ?? false,
          `secret ${source.secret.name}`,
        );
      } else if (source.downwardAPI) {
        const data = Object.fromEntries(
          (source.downwardAPI.items ?? []).map((i) => [i.path, i.fieldRef ? fieldValue(pod, i.fieldRef) : '']),
        );
        writeItems(dir, data, undefined, false, 'downwardAPI');
      }
    }
    return dir;
  }
  throw new PodSpecError('CreateContainerConfigError', `volume ${volume.name}: type not supported by the lab kubelet`);
}
