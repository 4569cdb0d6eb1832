// What a step ConfigMap's podSpec may ask for. The engine runs step Jobs as the runner, so a
// ConfigMap that could name any image, ServiceAccount or host access would be a way to run anything
// with the runner's rights. The pod is therefore rebuilt from an allow-list: the install's own image,
// the runner's ServiceAccount or none, no host namespaces or host paths, and Pod Security `restricted` laid
// over whatever the ConfigMap says. Anything else is refused, naming the field.
import type { V1Container, V1PodSpec, V1Volume } from '@kubernetes/client-node';
import { restrictedPod } from './pod-security.ts';

export interface StepPodPolicy {
  /** The images a step may run: the install's own. */
  images: string[];
  /** The one ServiceAccount a step may name (without one, the namespace's default: fewer rights, never more). */
  serviceAccount: string;
}

const POD_KEYS = new Set([
  'containers',
  'volumes',
  'restartPolicy',
  'serviceAccountName',
  'imagePullSecrets',
  'nodeSelector',
  'tolerations',
  'affinity',
  'securityContext',
]);
const CONTAINER_KEYS = new Set([
  'name',
  'image',
  'imagePullPolicy',
  'command',
  'args',
  'env',
  'resources',
  'volumeMounts',
  'terminationMessagePolicy',
  'securityContext',
]);
/** Volume sources that reach nothing on the node. */
const VOLUME_SOURCES = new Set(['configMap', 'secret', 'emptyDir', 'projected', 'downwardAPI']);

/** The pod a step Job runs, from what its ConfigMap asked; throws an Error naming the first field refused. */
export function ownedStepPod(raw: unknown, policy: StepPodPolicy): V1PodSpec {
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) throw new Error('must be a PodSpec object');
  const spec = raw as Record<string, unknown>;
  for (const key of Object.keys(spec))
    if (!POD_KEYS.has(key)) throw new Error(`${key} is not allowed in a step pod (host access, identity or placement)`);
  const sa = spec.serviceAccountName;
  if (sa !== undefined && sa !== policy.serviceAccount)
    throw new Error(`serviceAccountName "${String(sa)}": steps run as ${policy.serviceAccount} only`);
  const containers = spec.containers;
  if (!Array.isArray(containers) || !containers.length) throw new Error('must have at least one container');
  const volumes = (spec.volumes ?? []) as V1Volume[];
  if (!Array.isArray(volumes)) throw new Error('volumes must be a list');
  for (const v of volumes) {
    const sources = Object.keys(v).filter((k) => k !== 'name');
    const refused = sources.find((k) => !VOLUME_SOURCES.has(k));
    if (refused)
      throw new Error(`volume "${v.name}": ${refused} is not allowed (only ${[...VOLUME_SOURCES].join(', ')})`);
  }
  const owned = (containers as unknown[]).map((c, i): V1Container => {
    if (!c || typeof c !== 'object') throw new Error(`containers[${i}] must be an object`);
    const container = c as Record<string, unknown>;
    for (const key of Object.keys(container))
      if (!CONTAINER_KEYS.has(key)) throw new Error(`containers[${i}].${key} is not allowed in a step pod`);
    if (typeof container.image !== 'string' || !policy.images.includes(container.image))
      throw new Error(
        `containers[${i}].image "${String(container.image)}" is not the install's image (${policy.images.join(' or ')})`,
      );
    // The ConfigMap's security context is not taken: restrictedPod sets the one a step runs with.
    const { securityContext: _ignored, ...rest } = container;
    return rest as unknown as V1Container;
  });
  const { securityContext: _podContext, ...pod } = spec;
  return restrictedPod({ ...(pod as unknown as V1PodSpec), restartPolicy: 'Never', containers: owned });
}
