// Pod Security: every pod the product renders or starts meets the `restricted` level, except the
// node agent, which writes the nodes' containerd configuration through hostPath volumes and so runs
// in a namespace of its own labelled `privileged` (docs/adr/0013-pod-security.md).
import type { V1Container, V1PodSpec, V1SecurityContext } from '@kubernetes/client-node';

/** A non-root identity the project image runs as (distroless `nonroot`). */
export const NON_ROOT_UID = 65532;
/** Where a restricted container writes temporary files: its root filesystem is read-only. */
export const TMP_MOUNT = '/tmp';
const TMP_VOLUME = 'tmp';

export type PodSecurityLevel = 'restricted' | 'baseline' | 'privileged';

/** The namespace labels that make the PodSecurity admission plugin enforce a level (and warn and audit `warn`). */
export function podSecurityLabels(enforce: PodSecurityLevel, warn: PodSecurityLevel = enforce): Record<string, string> {
  return {
    'pod-security.kubernetes.io/enforce': enforce,
    'pod-security.kubernetes.io/enforce-version': 'latest',
    'pod-security.kubernetes.io/warn': warn,
    'pod-security.kubernetes.io/audit': warn,
  };
}

/** What every container of ours drops, the agent's included: no capability, no escalation, a read-only root. */
export const LOCKED_DOWN_CONTAINER: V1SecurityContext = {
  allowPrivilegeEscalation: false,
  readOnlyRootFilesystem: true,
  capabilities: { drop: ['ALL'] },
  seccompProfile: { type: 'RuntimeDefault' },
};

/**
 * The pod spec, made to meet `restricted`: non-root with the runtime's seccomp profile at pod level,
 * every container locked down, and an `emptyDir` at /tmp for the read-only root filesystem.
 * Idempotent: applying it to a restricted spec changes nothing.
 */
export function restrictedPod(spec: V1PodSpec): V1PodSpec {
  const lock = (c: V1Container): V1Container => ({
    ...c,
    securityContext: { ...LOCKED_DOWN_CONTAINER, ...c.securityContext, runAsNonRoot: true },
    volumeMounts: [
      ...(c.volumeMounts ?? []).filter((m) => m.name !== TMP_VOLUME),
      { name: TMP_VOLUME, mountPath: TMP_MOUNT },
    ],
  });
  return {
    ...spec,
    securityContext: {
      ...spec.securityContext,
      runAsNonRoot: true,
      runAsUser: NON_ROOT_UID,
      runAsGroup: NON_ROOT_UID,
      seccompProfile: { type: 'RuntimeDefault' },
    },
    containers: spec.containers.map(lock),
    ...(spec.initContainers ? { initContainers: spec.initContainers.map(lock) } : {}),
    volumes: [...(spec.volumes ?? []).filter((v) => v.name !== TMP_VOLUME), { name: TMP_VOLUME, emptyDir: {} }],
  };
}
