// 08 egress-block-test: the proof. Under a default-deny egress hold (a NetworkPolicy in every
// namespace, allowing DNS and the configured cluster CIDRs), call-home URLs must be unreachable from
// a pod, every node must still pull (fresh pulls of the cutover image), and nothing that was Ready
// may become NotReady for `egressTest.durationSeconds`. The hold is always removed — on success,
// failure, and (through `reap`) after a kill.
import { setTimeout as sleep } from 'node:timers/promises';
import type { KubernetesObject, V1Pod } from '@kubernetes/client-node';
import { serverSideApply } from '../adapters/kube/apply.ts';
import { kubeError, kubeStatus } from '../adapters/kube/cluster.ts';
import { CutoverError } from '../core/errors.ts';
import type { Change, Step, StepContext } from '../core/step.ts';
import type { StepEnv } from './env.ts';
import { listFluxAll, patchFlux, readyCondition, REQUESTED_AT, type FluxPlural } from '../adapters/kube/flux.ts';

type Ctx = StepContext<StepEnv>;
export const HOLD = { name: 'cutover-egress-hold', label: 'cutover-egress-hold' };
const HOLD_SELECTOR = `app.kubernetes.io/component=${HOLD.label}`;

function holdPolicy(ctx: Ctx, namespace: string): KubernetesObject {
  return {
    apiVersion: 'networking.k8s.io/v1',
    kind: 'NetworkPolicy',
    metadata: {
      name: HOLD.name,
      namespace,
      labels: { 'app.kubernetes.io/part-of': 'self-sovereign-cutover', 'app.kubernetes.io/component': HOLD.label },
    },
    spec: {
      podSelector: {},
      policyTypes: ['Egress'],
      egress: [
        {
          ports: [
            { protocol: 'UDP', port: 53 },
            { protocol: 'TCP', port: 53 },
          ],
        },
        ...(ctx.values.egressTest.allowCIDRs.length
          ? [{ to: ctx.values.egressTest.allowCIDRs.map((cidr) => ({ ipBlock: { cidr } })) }]
          : []),
      ],
    },
  } as unknown as KubernetesObject;
}

const CCNP = {
  group: 'cilium.io',
  version: 'v2',
  plural: 'ciliumclusterwidenetworkpolicies',
  name: 'cutover-egress-block',
};

/** Cilium enforces its own cluster-wide policy where it runs: default-deny egress with the same allow-list. */
function ciliumHold(ctx: Ctx): KubernetesObject {
  return {
    apiVersion: `${CCNP.group}/${CCNP.version}`,
    kind: 'CiliumClusterwideNetworkPolicy',
    metadata: {
      name: CCNP.name,
      labels: { 'app.kubernetes.io/part-of': 'self-sovereign-cutover', 'app.kubernetes.io/component': HOLD.label },
    },
    spec: {
      endpointSelector: {},
      enableDefaultDeny: { egress: true, ingress: false },
      egress: [
        { toEntities: ['kube-apiserver', 'cluster', 'host', 'remote-node'] },
        { toPorts: [{ ports: [{ port: '53', protocol: 'ANY' }] }] },
        ...(ctx.values.egressTest.allowCIDRs.length ? [{ toCIDR: ctx.values.egressTest.allowCIDRs }] : []),
      ],
    },
  } as unknown as KubernetesObject;
}

async function ciliumInstalled(ctx: Ctx): Promise<boolean> {
  try {
    await ctx.env.cluster.custom.listClusterCustomObject({
      group: CCNP.group,
      version: CCNP.version,
      plural: CCNP.plural,
      limit: 1,
    });
    return true;
  } catch (error) {
    if (kubeStatus(error) === 404) return false;
    throw kubeError('GET', `${CCNP.plural}.${CCNP.group}`, error);
  }
}

/** The hold: a NetworkPolicy in every namespace, plus a CiliumClusterwideNetworkPolicy where Cilium's CRD exists. */
export async function applyHolds(ctx: Ctx): Promise<void> {
  const objects = (await namespaces(ctx)).map((ns) => holdPolicy(ctx, ns));
  if (await ciliumInstalled(ctx)) objects.push(ciliumHold(ctx));
  await serverSideApply(ctx.env.cluster.config, objects, 'sovereign-cutover');
}

async function namespaces(ctx: Ctx): Promise<string[]> {
  return (await ctx.env.cluster.core.listNamespace()).items
    .filter((n) => n.status?.phase !== 'Terminating')
    .map((n) => n.metadata?.name ?? '')
    .filter(Boolean);
}

export async function removeHolds(ctx: Ctx): Promise<number> {
  const { networking, custom } = ctx.env.cluster;
  let removed = 0;
  if (await ciliumInstalled(ctx)) {
    await custom
      .deleteClusterCustomObject({ group: CCNP.group, version: CCNP.version, plural: CCNP.plural, name: CCNP.name })
      .then(
        () => removed++,
        (error: unknown) => {
          if (kubeStatus(error) !== 404) throw kubeError('DELETE', `${CCNP.plural}/${CCNP.name}`, error);
        },
      );
  }
  const holds = (await networking.listNetworkPolicyForAllNamespaces({ labelSelector: HOLD_SELECTOR })).items;
  for (const h of holds) {
    await networking
      .deleteNamespacedNetworkPolicy({ name: h.metadata?.name ?? '', namespace: h.metadata?.namespace ?? '' })
      .catch((error: unknown) => {
        if (kubeStatus(error) !== 404)
          throw kubeError('DELETE', `networkpolicies/${h.metadata?.namespace}/${h.metadata?.name}`, error);
      });
  }
  return removed + holds.length;
}

/** Names of things that are not Ready now: Flux sources/charts and workloads. */
async function notReady(ctx: Ctx): Promise<Set<string>> {
  const { cluster } = ctx.env;
  const bad = new Set<string>();
  for (const plural of ['gitrepositories', 'helmcharts', 'ocirepositories'] as FluxPlural[]) {
    for (const o of await listFluxAll(cluster, plural))
      if (readyCondition(o)?.status === 'False') bad.add(`${plural} ${o.metadata.namespace}/${o.metadata.name}`);
  }
  for (const d of (await cluster.apps.listDeploymentForAllNamespaces()).items) {
    if ((d.status?.availableReplicas ?? 0) < (d.spec?.replicas ?? 1))
      bad.add(`Deployment ${d.metadata?.namespace}/${d.metadata?.name}`);
  }
  for (const d of (await cluster.apps.listDaemonSetForAllNamespaces()).items) {
    if ((d.status?.numberReady ?? 0) < (d.status?.desiredNumberScheduled ?? 0))
      bad.add(`DaemonSet ${d.metadata?.namespace}/${d.metadata?.name}`);
  }
  for (const s of (await cluster.apps.listStatefulSetForAllNamespaces()).items) {
    if ((s.status?.readyReplicas ?? 0) < (s.spec?.replicas ?? 1))
      bad.add(`StatefulSet ${s.metadata?.namespace}/${s.metadata?.name}`);
  }
  return bad;
}

async function plan(ctx: Ctx): Promise<Change[]> {
  return [
    {
      action: 'hold',
      target: `NetworkPolicy ${HOLD.name} in every namespace`,
      detail: `default-deny egress, allow DNS + ${ctx.values.egressTest.allowCIDRs.join(', ')}`,
    },
    {
      action: 'probe',
      target: ctx.values.egressTest.callHomeURLs.join(', '),
      detail: 'must be unreachable from a pod',
    },
    { action: 'pull', target: 'a fresh pull on every node' },
    { action: 'watch', target: `no new NotReady for ${ctx.values.egressTest.durationSeconds} s` },
    { action: 'remove', target: 'the hold' },
  ];
}

/** Runs a pod and waits for it to end (or, with `running`, to start); resolves it. */
async function runPod(ctx: Ctx, name: string, spec: V1Pod['spec'], until: 'finished' | 'started'): Promise<V1Pod> {
  const { core } = ctx.env.cluster;
  const namespace = ctx.env.namespace;
  await core.createNamespacedPod({
    namespace,
    body: {
      metadata: {
        name,
        labels: {
          'app.kubernetes.io/part-of': 'self-sovereign-cutover',
          'app.kubernetes.io/component': 'cutover-egress-probe',
        },
      },
      spec: spec!,
    },
  });
  try {
    while (!ctx.signal.aborted) {
      const pod = await core.readNamespacedPod({ name, namespace });
      const state = pod.status?.containerStatuses?.[0]?.state;
      if (state?.terminated || (until === 'started' && state?.running)) return pod;
      await sleep(500, undefined, { signal: ctx.signal }).catch(() => undefined);
    }
    throw new CutoverError(
      'probe-timeout',
      `pod ${namespace}/${name} did not ${until === 'started' ? 'start' : 'finish'} before the step deadline`,
    );
  } finally {
    await core.deleteNamespacedPod({ name, namespace, gracePeriodSeconds: 0 }).catch(() => undefined);
  }
}

async function apply(ctx: Ctx): Promise<void> {
  const runId = Date.now().toString(36);
  const baseline = await notReady(ctx);
  ctx.log(`baseline: ${baseline.size} object(s) already NotReady (they do not count)`);
  try {
    await applyHolds(ctx);
    ctx.log('egress hold applied in every namespace');

    const probe = await runPod(
      ctx,
      `cutover-probe-${runId}`,
      {
        restartPolicy: 'Never',
        containers: [
          {
            name: 'probe',
            image: ctx.values.images.cutover,
            args: ['probe', '--within', '60', ...ctx.values.egressTest.callHomeURLs],
          },
        ],
      },
      'finished',
    );
    const result = probe.status?.containerStatuses?.[0]?.state?.terminated;
    if (result?.exitCode !== 0)
      throw new CutoverError(
        'egress-leak',
        `call-home probe failed (exit ${result?.exitCode}): ${result?.message ?? 'no output'}`,
      );
    ctx.log(`call-home blocked: ${ctx.values.egressTest.callHomeURLs.join(', ')}`);

    const nodes = (await ctx.env.cluster.core.listNode()).items.map((n) => n.metadata?.name ?? '').filter(Boolean);
    for (const node of nodes) {
      const pod = await runPod(
        ctx,
        `cutover-fresh-pull-${runId}-${node}`.slice(0, 63),
        {
          nodeName: node,
          restartPolicy: 'Never',
          tolerations: [{ operator: 'Exists' }],
          containers: [
            { name: 'pull', image: ctx.values.images.cutover, imagePullPolicy: 'Always', args: ['--version'] },
          ],
        },
        'started',
      );
      const state = pod.status?.containerStatuses?.[0]?.state;
      if (state?.terminated && state.terminated.exitCode !== 0)
        throw new CutoverError(
          'fresh-pull-failed',
          `fresh pull on ${node} ran but failed: ${state.terminated.message ?? ''}`,
        );
      ctx.log(`fresh pull of ${ctx.values.images.cutover} on ${node} under the hold: ok`);
    }

    // Make Flux fetch under the hold too: sources must come from inside the Sovereign now.
    const token = new Date().toISOString();
    for (const plural of ['gitrepositories', 'helmcharts'] as FluxPlural[]) {
      for (const o of await listFluxAll(ctx.env.cluster, plural))
        await patchFlux(ctx.env.cluster, plural, o.metadata.namespace, o.metadata.name, {
          metadata: { annotations: { [REQUESTED_AT]: token } },
        });
    }
    const until = Date.now() + ctx.values.egressTest.durationSeconds * 1000;
    for (;;) {
      const fresh = [...(await notReady(ctx))].filter((x) => !baseline.has(x));
      if (fresh.length)
        throw new CutoverError('new-not-ready', `under the egress hold these became NotReady: ${fresh.join(', ')}`);
      if (ctx.signal.aborted)
        throw new CutoverError('probe-timeout', 'the step deadline passed before the egress window ended');
      if (Date.now() >= until) break;
      await sleep(Math.min(5000, Math.max(0, until - Date.now())), undefined, { signal: ctx.signal }).catch(
        () => undefined,
      );
    }
    ctx.log(`nothing became NotReady in ${ctx.values.egressTest.durationSeconds} s under the hold`);
  } finally {
    ctx.log(`egress hold removed (${await removeHolds(ctx)} policies)`);
  }
}

async function verify(ctx: Ctx): Promise<void> {
  const left = (await ctx.env.cluster.networking.listNetworkPolicyForAllNamespaces({ labelSelector: HOLD_SELECTOR }))
    .items.length;
  const cilium = (await ciliumInstalled(ctx))
    ? (
        (await ctx.env.cluster.custom.listClusterCustomObject({
          group: CCNP.group,
          version: CCNP.version,
          plural: CCNP.plural,
          labelSelector: HOLD_SELECTOR,
        })) as { items: unknown[] }
      ).items.length
    : 0;
  if (left + cilium) throw new CutoverError('hold-leaked', `${left + cilium} egress hold policies are still present`);
}

async function reap(ctx: Ctx): Promise<void> {
  const removed = await removeHolds(ctx);
  if (removed) ctx.log(`reaped ${removed} egress hold policies left by an interrupted run`);
  await ctx.env.cluster.core.deleteCollectionNamespacedPod({
    namespace: ctx.env.namespace,
    labelSelector: 'app.kubernetes.io/component=cutover-egress-probe',
    gracePeriodSeconds: 0,
  });
}

export const egressBlockTest: Step<StepEnv> = {
  id: 'egress-block-test',
  timeoutKey: 'egressBlockTestSeconds',
  plan,
  apply,
  verify,
  reap,
};
