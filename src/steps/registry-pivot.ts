// 04 registry-pivot: every node pulls from the local Harbor. The engine has flipped
// `registriesYamlActive=v2`; this step makes sure the node agent DaemonSet runs, waits until every
// node it runs on has acked v2, then proves each node really resolves upstream names through the
// local Harbor: a canary image that exists only in a local mirror project (unique per run) is run
// under its upstream name by one Pod pinned to each node, and must start.
import { setTimeout as sleep } from 'node:timers/promises';
import type { V1Pod } from '@kubernetes/client-node';
import { serverSideApply } from '../adapters/kube/apply.ts';
import { kubeError } from '../adapters/kube/cluster.ts';
import { copyArtifact } from '../prewarm/prewarm.ts';
import { agentObjects } from '../render/agent.ts';
import { CutoverError } from '../core/errors.ts';
import { AGENT, nodeAckKey } from '../core/contracts.ts';
import type { Change, Step, StepContext } from '../core/step.ts';
import { parseImageRef, reference } from '../core/image-ref.ts';
import type { StepEnv } from './env.ts';

type Ctx = StepContext<StepEnv>;
const CANARY_PATH = 'sovereign-cutover/canary';

async function agentNodes(ctx: Ctx): Promise<{ desired: number; nodes: string[] }> {
  const { cluster, namespace } = ctx.env;
  const ds = await cluster.apps.readNamespacedDaemonSet({ name: AGENT.daemonSet, namespace }).catch((e: unknown) => {
    throw kubeError('GET', `daemonsets/${namespace}/${AGENT.daemonSet}`, e);
  });
  const pods = await cluster.core.listNamespacedPod({
    namespace,
    labelSelector: 'app.kubernetes.io/component=registry-pivot',
  });
  return {
    desired: ds.status?.desiredNumberScheduled ?? 0,
    nodes: [...new Set(pods.items.map((p) => p.spec?.nodeName ?? '').filter(Boolean))].sort(),
  };
}

async function acked(ctx: Ctx, want: string): Promise<{ ok: boolean; detail: string }> {
  const { desired, nodes } = await agentNodes(ctx);
  const status =
    (
      await ctx.env.cluster.core.readNamespacedConfigMap({
        name: ctx.values.status.configMapName,
        namespace: ctx.env.namespace,
      })
    ).data ?? {};
  const done = nodes.filter((n) => status[nodeAckKey(n)] === want);
  return {
    ok: desired > 0 && nodes.length === desired && done.length === desired,
    detail: `${done.length}/${desired} nodes acked ${want} (${nodes.join(', ') || 'no agent pods yet'})`,
  };
}

async function plan(ctx: Ctx): Promise<Change[]> {
  const changes: Change[] = [
    {
      action: 'apply',
      target: `DaemonSet ${ctx.env.namespace}/${AGENT.daemonSet}`,
      detail: 'node agent + its ServiceAccount, Role, config',
    },
  ];
  for (const row of ctx.values.harbor.hostProjects)
    changes.push({
      action: 'pivot',
      target: `certs.d/${row.host}/hosts.toml on every node`,
      detail: `→ ${ctx.values.sovereign.harborPublicURL}/v2/${row.project}`,
    });
  changes.push({
    action: 'prove',
    target: 'one canary pod per node',
    detail: 'an image only the local Harbor has, under its upstream name',
  });
  return changes;
}

async function apply(ctx: Ctx): Promise<void> {
  const { cluster, namespace } = ctx.env;
  const status =
    (await cluster.core.readNamespacedConfigMap({ name: ctx.values.status.configMapName, namespace })).data ?? {};
  if (status.registriesYamlActive !== 'v2') {
    throw new CutoverError(
      'not-flipped',
      `registriesYamlActive is ${status.registriesYamlActive ?? 'unset'}; the engine flips it to v2 once harbor-prewarm has passed`,
    );
  }
  await serverSideApply(cluster.config, agentObjects(ctx.values, namespace), 'sovereign-cutover');
  let progress = await acked(ctx, 'v2');
  while (!progress.ok) {
    if (ctx.signal.aborted)
      throw new CutoverError('acks-missing', `the node agents never all acked v2: ${progress.detail}`);
    await sleep(1000, undefined, { signal: ctx.signal }).catch(() => undefined);
    progress = await acked(ctx, 'v2');
  }
  ctx.log(progress.detail);
  await proveWithCanaries(ctx, (await agentNodes(ctx)).nodes);
}

/** One pod per node runs an image that only the local Harbor has, named by its upstream host. */
async function proveWithCanaries(ctx: Ctx, nodes: string[]): Promise<void> {
  const { cluster, namespace } = ctx.env;
  const cutover = parseImageRef(ctx.values.images.cutover);
  const source = ctx.values.harbor.hostProjects.find((r) => r.host === cutover.host);
  const target =
    ctx.values.harbor.hostProjects.find((r) => r.mode === 'mirror' && r.host === cutover.host) ??
    ctx.values.harbor.hostProjects.find((r) => r.mode === 'mirror');
  if (!source || !target)
    throw new CutoverError(
      'no-canary',
      `a canary needs images.cutover's host (${cutover.host}) in harbor.hostProjects and at least one mirror-mode project`,
    );
  const runId = Date.now().toString(36);
  const { local } = ctx.env.registries;
  await copyArtifact(
    local,
    `${source.project}/${cutover.path}`,
    reference(cutover),
    local,
    `${target.project}/${CANARY_PATH}`,
  );
  const tag = `run-${runId}`;
  const top = await local.getManifest(`${target.project}/${CANARY_PATH}`, reference(cutover));
  await local.putManifest(`${target.project}/${CANARY_PATH}`, tag, top.mediaType, top.bytes);
  const image = `${target.host}/${CANARY_PATH}:${tag}`;
  ctx.log(`canary ${image} exists only in ${target.project}; starting it on ${nodes.join(', ')}`);
  const names = nodes.map((node) => `cutover-canary-${runId}-${node}`.slice(0, 63));
  try {
    for (const [i, node] of nodes.entries()) {
      await cluster.core.createNamespacedPod({
        namespace,
        body: {
          metadata: {
            name: names[i] as string,
            labels: {
              'app.kubernetes.io/part-of': 'self-sovereign-cutover',
              'app.kubernetes.io/component': 'cutover-canary',
            },
          },
          spec: {
            nodeName: node,
            restartPolicy: 'Never',
            tolerations: [{ operator: 'Exists' }],
            containers: [{ name: 'canary', image, imagePullPolicy: 'Always', args: ['--version'] }],
          },
        },
      });
    }
    for (const [i, node] of nodes.entries()) await waitStarted(ctx, names[i] as string, node);
  } finally {
    for (const name of names)
      await cluster.core.deleteNamespacedPod({ name, namespace, gracePeriodSeconds: 0 }).catch(() => undefined);
  }
}

async function waitStarted(ctx: Ctx, name: string, node: string): Promise<void> {
  let pod: V1Pod | undefined;
  while (!ctx.signal.aborted) {
    pod = await ctx.env.cluster.core.readNamespacedPod({ name, namespace: ctx.env.namespace });
    const state = pod.status?.containerStatuses?.[0]?.state;
    if (state?.running || state?.terminated?.exitCode === 0) {
      ctx.log(`canary started on ${node}: it pulled through the local Harbor`);
      return;
    }
    if (state?.terminated) break;
    await sleep(500, undefined, { signal: ctx.signal }).catch(() => undefined);
  }
  const waiting = pod?.status?.containerStatuses?.[0]?.state;
  throw new CutoverError('canary-failed', `canary on ${node} did not start: ${JSON.stringify(waiting ?? {})}`);
}

async function verify(ctx: Ctx): Promise<void> {
  const progress = await acked(ctx, 'v2');
  if (!progress.ok) throw new CutoverError('acks-missing', progress.detail);
}

/** Canary pods of a killed run. */
async function reap(ctx: Ctx): Promise<void> {
  await ctx.env.cluster.core.deleteCollectionNamespacedPod({
    namespace: ctx.env.namespace,
    labelSelector: 'app.kubernetes.io/component=cutover-canary',
    gracePeriodSeconds: 0,
  });
}

export const registryPivot: Step<StepEnv> = {
  id: 'registry-pivot',
  timeoutKey: 'registryPivotSeconds',
  plan,
  apply,
  verify,
  reap,
};
