// Images of Pods and of every workload template — scaled-to-zero and suspended ones count — in
// init, regular and ephemeral containers and image volumes; with `env`, upstream URLs in container
// env values too. ReplicaSets a Deployment keeps at zero replicas are noted as its rollout history.
import { withOwner } from '../owners.ts';
import type { V1Container, V1ObjectMeta, V1PodSpec } from '@kubernetes/client-node';
import type { KubeCluster } from '../../adapters/kube/cluster.ts';
import type { Tether } from '../../core/tether.ts';
import { upstreamURLs, urlTether } from '../upstream-hosts.ts';
import type { SourceContext, TetherSource } from './source.ts';

/** A workload as the source reads it, whatever its kind. */
interface Workload {
  metadata: V1ObjectMeta | undefined;
  podSpec: V1PodSpec | undefined;
  replicas: number | undefined;
}

interface WorkloadKind {
  kind: 'Pod' | 'Deployment' | 'StatefulSet' | 'DaemonSet' | 'ReplicaSet' | 'Job' | 'CronJob';
  /** Path of the pod spec in the object. */
  prefix: string;
  list(cluster: KubeCluster): Promise<{ items: Workload[] }>;
}

function workloads<T extends { metadata?: V1ObjectMeta }>(
  list: { items: T[] },
  podSpec: (item: T) => V1PodSpec | undefined,
  replicas: (item: T) => number | undefined = () => undefined,
): { items: Workload[] } {
  return {
    items: list.items.map((item) => ({ metadata: item.metadata, podSpec: podSpec(item), replicas: replicas(item) })),
  };
}

const KINDS: WorkloadKind[] = [
  { kind: 'Pod', prefix: 'spec', list: async (c) => workloads(await c.core.listPodForAllNamespaces(), (o) => o.spec) },
  {
    kind: 'Deployment',
    prefix: 'spec.template.spec',
    list: async (c) => workloads(await c.apps.listDeploymentForAllNamespaces(), (o) => o.spec?.template?.spec),
  },
  {
    kind: 'StatefulSet',
    prefix: 'spec.template.spec',
    list: async (c) => workloads(await c.apps.listStatefulSetForAllNamespaces(), (o) => o.spec?.template?.spec),
  },
  {
    kind: 'DaemonSet',
    prefix: 'spec.template.spec',
    list: async (c) => workloads(await c.apps.listDaemonSetForAllNamespaces(), (o) => o.spec?.template?.spec),
  },
  {
    kind: 'ReplicaSet',
    prefix: 'spec.template.spec',
    list: async (c) =>
      workloads(
        await c.apps.listReplicaSetForAllNamespaces(),
        (o) => o.spec?.template?.spec,
        (o) => o.spec?.replicas,
      ),
  },
  {
    kind: 'Job',
    prefix: 'spec.template.spec',
    list: async (c) => workloads(await c.batch.listJobForAllNamespaces(), (o) => o.spec?.template?.spec),
  },
  {
    kind: 'CronJob',
    prefix: 'spec.jobTemplate.spec.template.spec',
    list: async (c) =>
      workloads(await c.batch.listCronJobForAllNamespaces(), (o) => o.spec?.jobTemplate?.spec?.template?.spec),
  },
];

/** Workload images; with `env`, env values naming an upstream URL too. */
export function workloadSource({ env }: { env: boolean }): TetherSource {
  return {
    name: env ? 'workload images and env' : 'workload images',
    async collect(ctx) {
      const work: Array<Promise<Tether[]>> = [];
      // One kind after another: at 10k Deployments (and their ReplicaSets) the lists are the cost.
      for (const { kind, prefix, list } of KINDS) {
        for (const item of await ctx.list(kind, () => list(ctx.cluster))) {
          const object = `${kind} ${item.metadata?.namespace}/${item.metadata?.name}`;
          if (item.podSpec)
            work.push(
              podSpec(ctx, object, prefix, item.podSpec, env).then((ts) => withOwner(ts, item.metadata?.labels)),
            );
          const owner = item.metadata?.ownerReferences?.find((o) => o.kind === 'Deployment');
          if (kind === 'ReplicaSet' && owner && item.replicas === 0)
            ctx.rolloutHistory.set(object, `Deployment ${item.metadata?.namespace}/${owner.name}`);
        }
      }
      return (await Promise.all(work)).flat();
    },
  };
}

async function podSpec(
  ctx: SourceContext,
  object: string,
  prefix: string,
  spec: V1PodSpec,
  env: boolean,
): Promise<Tether[]> {
  const groups: Array<[string, V1Container[] | undefined]> = [
    ['initContainers', spec.initContainers],
    ['containers', spec.containers],
    ['ephemeralContainers', spec.ephemeralContainers as V1Container[] | undefined],
  ];
  const images: Array<Promise<Tether | undefined>> = [];
  const urls: Tether[] = [];
  for (const [group, containers] of groups) {
    for (const [i, c] of (containers ?? []).entries()) {
      if (c.image) images.push(ctx.images.tether(object, `${prefix}.${group}[${i}].image`, c.image, 'image'));
      if (!env) continue;
      for (const [j, e] of (c.env ?? []).entries()) {
        for (const url of upstreamURLs(e.value ?? '', ctx.hosts))
          urls.push(urlTether(ctx.hosts, 'env', object, `${prefix}.${group}[${i}].env[${j}].value`, url));
      }
    }
  }
  for (const [i, v] of (spec.volumes ?? []).entries()) {
    const image = v.image?.reference;
    if (image) images.push(ctx.images.tether(object, `${prefix}.volumes[${i}].image.reference`, image, 'image'));
  }
  const found = (await Promise.all(images)).filter((t) => t !== undefined);
  return [...urls, ...found];
}
