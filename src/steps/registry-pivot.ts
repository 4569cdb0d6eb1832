// 04 registry-pivot: every node pulls from the local Harbor. The engine has flipped
// `registriesYamlActive=v2`; this step makes sure the node agent DaemonSet runs, waits until every
// node it runs on has acked v2, then proves each node really resolves upstream names through the
// local Harbor: a canary image that exists only in a local mirror project (unique per run) is run
// under its upstream name by one Pod pinned to each node, and must start.
import { serverSideApply } from '../adapters/kube/apply.ts';
import { containerState, createPod, deletePod, deletePods, listPods, waitPod } from '../adapters/kube/pods.ts';
import { readDaemonSet } from '../adapters/kube/workloads.ts';
import { copyArtifact } from '../prewarm/prewarm.ts';
import { agentObjects } from '../render/agent.ts';
import { journalCreates } from './journal.ts';
import { harborPrewarm } from './harbor-prewarm.ts';
import { CutoverError } from '../core/errors.ts';
import { pollUntil } from '../core/poll.ts';
import { nodeNames } from '../adapters/kube/nodes.ts';
import { NodeReports } from '../adapters/kube/node-reports.ts';
import {
  AGENT,
  agentNamespace,
  nodeAckKey,
  nodeOfKey,
  type AgentRegistryReport,
  type StatusData,
} from '../core/contracts.ts';
import { pivotedEndpoint } from '../core/hosts-toml.ts';
import type { Change, Step, StepContext } from '../core/step.ts';
import { parseImageRef, reference } from '../core/image-ref.ts';
import type { StepEnv } from './env.ts';

type Ctx = StepContext<StepEnv>;
const CANARY_PATH = 'sovereign-cutover/canary';
const CANARY_COMPONENT = 'cutover-canary';

async function agentNodes(ctx: Ctx): Promise<{ desired: number; nodes: string[] }> {
  const { cluster } = ctx.env;
  const namespace = agentNamespace(ctx.values, ctx.env.namespace);
  const ds = await readDaemonSet(cluster, namespace, AGENT.daemonSet);
  const pods = await listPods(cluster, namespace, 'app.kubernetes.io/component=registry-pivot');
  return {
    desired: ds.status?.desiredNumberScheduled ?? 0,
    nodes: [...new Set(pods.map((p) => p.spec?.nodeName ?? '').filter(Boolean))].sort(),
  };
}

/** The status ConfigMap's data (the engine created it before any step ran). */
async function statusData(ctx: Ctx): Promise<StatusData> {
  const status = await ctx.env.status.read();
  if (!status)
    throw new CutoverError(
      'no-status',
      `status ConfigMap ${ctx.env.status.namespace}/${ctx.env.status.name} does not exist`,
    );
  return status;
}

/**
 * The reports and status keys of nodes that left the cluster are removed (a cluster that replaces its
 * nodes would grow them forever). Once per pass, before waiting for acks: not on every poll.
 */
export async function pruneDepartedNodes(ctx: Ctx): Promise<void> {
  const reports = NodeReports.forInstall(ctx.env.cluster, ctx.values, ctx.env.namespace);
  const present = new Set(await nodeNames(ctx.env.cluster));
  for (const r of await reports.list())
    if (!present.has(r.node)) {
      await reports.remove(r.name);
      ctx.log(`node ${r.node} left the cluster: its report is removed`);
    }
  const departed = Object.keys(await statusData(ctx)).filter((key) => {
    const node = nodeOfKey(key);
    return node !== undefined && !present.has(node);
  });
  if (departed.length) await ctx.env.status.remove(departed);
}

/**
 * The acks of `nodes` from their reports, copied into the status's `node.<name>.registriesYaml` keys
 * (the original's contract) with one patch when they differ.
 */
async function collectAcks(
  ctx: Ctx,
  nodes: string[],
): Promise<{ acks: Map<string, string>; routes: Map<string, AgentRegistryReport> }> {
  const reports = NodeReports.forInstall(ctx.env.cluster, ctx.values, ctx.env.namespace);
  const wanted = new Set(nodes);
  const acks = new Map<string, string>();
  const routes = new Map<string, AgentRegistryReport>();
  for (const r of await reports.list())
    if (wanted.has(r.node)) {
      acks.set(r.node, r.registriesYaml);
      if (r.registryHosts) routes.set(r.node, r.registryHosts);
    }
  const status = await statusData(ctx);
  const changed = [...acks].filter(([node, ack]) => status[nodeAckKey(node)] !== ack);
  if (changed.length) await ctx.env.status.patch(Object.fromEntries(changed.map(([n, ack]) => [nodeAckKey(n), ack])));
  return { acks, routes };
}

/**
 * Whether every node the agent runs on acknowledged `want` (v2: pivoted, v1: its own files back). v2
 * is read back from what each node reports its containerd resolves: every host of the values' table
 * through the local Harbor. An agent still on an older config (a host added since it started) has
 * acked v2 but is not done.
 */
export async function nodesAcked(ctx: Ctx, want: string): Promise<{ ok: boolean; detail: string }> {
  const { desired, nodes } = await agentNodes(ctx);
  const { acks, routes } = await collectAcks(ctx, nodes);
  const routed = (node: string) =>
    want !== 'v2' ||
    ctx.values.harbor.hostProjects.every(
      (row) => routes.get(node)?.[row.host] === pivotedEndpoint(row, ctx.values.sovereign.harborPublicURL),
    );
  const done = nodes.filter((n) => acks.get(n) === want && routed(n));
  const unrouted = nodes.filter((n) => acks.get(n) === want && !routed(n));
  return {
    ok: desired > 0 && nodes.length === desired && done.length === desired,
    detail: `${done.length}/${desired} nodes acked ${want} (${nodes.join(', ') || 'no agent pods yet'})${unrouted.length ? `; not every mapped host through the local Harbor yet on ${unrouted.join(', ')}` : ''}`,
  };
}

async function plan(ctx: Ctx): Promise<Change[]> {
  const changes: Change[] = [
    {
      action: 'apply',
      target: `DaemonSet ${agentNamespace(ctx.values, ctx.env.namespace)}/${AGENT.daemonSet}`,
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
  const status = await statusData(ctx);
  if (status.registriesYamlActive !== 'v2') {
    throw new CutoverError(
      'not-flipped',
      `registriesYamlActive is ${status.registriesYamlActive ?? 'unset'}; the engine flips it to v2 once harbor-prewarm has passed`,
    );
  }
  const agent = agentObjects(ctx.values, namespace);
  await journalCreates(ctx.env, registryPivot.id, agent);
  // The nodes' own files are kept by each agent; the entry tells rollback to bring them back.
  await ctx.env.journal.record(registryPivot.id, [
    {
      op: 'nodes',
      object: { apiVersion: 'v1', kind: 'ConfigMap', namespace: ctx.env.status.namespace, name: ctx.env.status.name },
      path: ['data', 'registriesYamlActive'],
      before: 'v1',
      after: 'v2',
    },
  ]);
  await serverSideApply(cluster.config, agent, 'sovereign-cutover');
  await pruneDepartedNodes(ctx);
  const progress = await pollUntil(
    () => nodesAcked(ctx, 'v2'),
    (p) => p.ok,
    {
      signal: ctx.signal,
      interval: 1000,
      code: 'acks-missing',
      message: (p) => `the node agents never all acked v2: ${p.detail}`,
    },
  );
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
      await createPod(cluster, namespace, {
        name: names[i] as string,
        labels: {
          'app.kubernetes.io/part-of': 'self-sovereign-cutover',
          'app.kubernetes.io/component': CANARY_COMPONENT,
        },
        spec: {
          nodeName: node,
          restartPolicy: 'Never',
          tolerations: [{ operator: 'Exists' }],
          containers: [
            {
              name: 'canary',
              image,
              imagePullPolicy: 'Always',
              args: ['--version'],
              terminationMessagePolicy: 'FallbackToLogsOnError',
            },
          ],
        },
      });
    }
    for (const [i, node] of nodes.entries()) await waitStarted(ctx, names[i] as string, node);
  } finally {
    for (const name of names) await deletePod(cluster, namespace, name).catch(() => undefined);
  }
}

/** The canary started (or ran to a clean exit): the node pulled it through the local Harbor. */
async function waitStarted(ctx: Ctx, name: string, node: string): Promise<void> {
  const failed = (state: unknown) => `canary on ${node} did not start: ${JSON.stringify(state ?? {})}`;
  const pod = await waitPod(ctx.env.cluster, ctx.env.namespace, name, {
    signal: ctx.signal,
    done: (state) => Boolean(state?.running || state?.terminated),
    code: 'canary-failed',
    message: (last) => failed(containerState(last)),
  });
  const state = containerState(pod);
  if (!state?.running && state?.terminated?.exitCode !== 0) throw new CutoverError('canary-failed', failed(state));
  ctx.log(`canary started on ${node}: it pulled through the local Harbor`);
}

async function verify(ctx: Ctx): Promise<void> {
  const progress = await nodesAcked(ctx, 'v2');
  if (!progress.ok) throw new CutoverError('acks-missing', progress.detail);
}

/** A node whose agent has not acked v2 (a new node, a lost ack): the pivot no longer covers every node. */
async function drift(ctx: Ctx): Promise<Change[]> {
  const progress = await nodesAcked(ctx, 'v2');
  return progress.ok ? [] : [{ action: 'pivot', target: 'node agents', detail: progress.detail }];
}

/** Canary pods of a killed run. */
async function reap(ctx: Ctx): Promise<void> {
  await deletePods(ctx.env.cluster, ctx.env.namespace, `app.kubernetes.io/component=${CANARY_COMPONENT}`);
}

export const registryPivot: Step<StepEnv> = {
  id: 'registry-pivot',
  timeoutKey: 'registryPivotSeconds',
  // Not the order of the steps: every artifact in use must be in the local Harbor, by digest, before a node points there.
  precondition: (ctx) => harborPrewarm.verify(ctx),
  plan,
  apply,
  verify,
  drift,
  reap,
};
