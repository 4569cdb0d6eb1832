// 08 egress-block-test: the proof. Under a default-deny egress hold (a NetworkPolicy in every
// namespace, allowing DNS and the configured cluster CIDRs), call-home URLs must be unreachable from
// a pod, every node must still pull (fresh pulls of the cutover image), and nothing that was Ready
// may become NotReady for `egressTest.durationSeconds`. The hold is always removed — on success,
// failure, and (through `reap`) after a kill.
import type { KubernetesObject, V1Pod, V1PodSpec } from '@kubernetes/client-node';
import { serverSideApply } from '../adapters/kube/apply.ts';
import type { KubeCluster } from '../adapters/kube/cluster.ts';
import {
  CILIUM_API_VERSION,
  ciliumInstalled,
  countCiliumPolicies,
  deleteCiliumPolicy,
  deleteNetworkPolicy,
  listNetworkPolicies,
  apiserverEndpoints,
  type ApiserverEndpoint,
} from '../adapters/kube/network-policies.ts';
import { activeNamespaces, nodeNames } from '../adapters/kube/nodes.ts';
import { containerState, createPod, deletePod, deletePods, waitPod } from '../adapters/kube/pods.ts';
import { unreadyWorkloads } from '../adapters/kube/workloads.ts';
import { stripUpstreamCredentials, upstreamCredentialsLeft } from './pull-credentials.ts';
import { journalCreates, journalFields } from './journal.ts';
import { CutoverError } from '../core/errors.ts';
import { pollUntil } from '../core/poll.ts';
import type { Change, Step, StepContext } from '../core/step.ts';
import type { StepEnv } from './env.ts';
import {
  fluxObject,
  listFlux,
  listFluxAll,
  patchFlux,
  readyCondition,
  REQUESTED_AT,
  type FluxPlural,
} from '../adapters/kube/flux.ts';
import { fluxNamespaces } from '../core/values.ts';
import { CCNP_NAME, HOLD } from '../core/contracts.ts';

type Ctx = StepContext<StepEnv>;
const HOLD_SELECTOR = `app.kubernetes.io/component=${HOLD.label}`;
const PROBE_COMPONENT = 'cutover-egress-probe';

/**
 * The hold of one namespace: default-deny egress but DNS, the apiserver and `allowCIDRs`. `trial`:
 * the same allow-list on the pods of one label only, under another name (`cutover check`'s rehearsal).
 */
export function holdPolicy(
  ctx: Ctx,
  namespace: string,
  apiserver: ApiserverEndpoint[],
  trial?: { name: string; component: string },
): KubernetesObject {
  return {
    apiVersion: 'networking.k8s.io/v1',
    kind: 'NetworkPolicy',
    metadata: {
      name: trial?.name ?? HOLD.name,
      namespace,
      labels: {
        'app.kubernetes.io/part-of': 'self-sovereign-cutover',
        'app.kubernetes.io/component': trial?.component ?? HOLD.label,
      },
    },
    spec: {
      podSelector: trial ? { matchLabels: { 'app.kubernetes.io/component': trial.component } } : {},
      policyTypes: ['Egress'],
      egress: [
        {
          ports: [
            { protocol: 'UDP', port: 53 },
            { protocol: 'TCP', port: 53 },
          ],
        },
        // The apiserver stays reachable: the step pod, the engine, the agents and Flux keep working, and
        // whatever removes the hold can reach the API to do it.
        ...apiserver.map((a) => ({
          to: [{ ipBlock: { cidr: a.cidr } }],
          ...(a.ports.length ? { ports: a.ports.map((port) => ({ protocol: 'TCP', port })) } : {}),
        })),
        ...(ctx.values.egressTest.allowCIDRs.length
          ? [{ to: ctx.values.egressTest.allowCIDRs.map((cidr) => ({ ipBlock: { cidr } })) }]
          : []),
      ],
    },
  } as unknown as KubernetesObject;
}

/** Cilium enforces its own cluster-wide policy where it runs: default-deny egress with the same allow-list. */
function ciliumHold(ctx: Ctx): KubernetesObject {
  return {
    apiVersion: CILIUM_API_VERSION,
    kind: 'CiliumClusterwideNetworkPolicy',
    metadata: {
      name: CCNP_NAME,
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

/** The hold: a NetworkPolicy in every namespace, plus a CiliumClusterwideNetworkPolicy where Cilium's CRD exists. */
/** Where pods reach the apiserver: `egressTest.apiserverCIDRs` (any port), else the kubernetes Service and its EndpointSlices. */
export async function holdApiserver(ctx: Ctx): Promise<ApiserverEndpoint[]> {
  const explicit = ctx.values.egressTest.apiserverCIDRs;
  return explicit.length ? explicit.map((cidr) => ({ cidr, ports: [] })) : await apiserverEndpoints(ctx.env.cluster);
}

export async function applyHolds(ctx: Ctx): Promise<void> {
  const { cluster } = ctx.env;
  const apiserver = await holdApiserver(ctx);
  if (!apiserver.length)
    throw new CutoverError(
      'apiserver-unknown',
      'the kubernetes Service has no cluster IP and no EndpointSlice: the hold could not let pods reach the apiserver, so it is not applied',
    );
  const objects = (await activeNamespaces(cluster)).map((ns) => holdPolicy(ctx, ns, apiserver));
  if (await ciliumInstalled(cluster)) objects.push(ciliumHold(ctx));
  await journalCreates(ctx.env, egressBlockTest.id, objects);
  await serverSideApply(ctx.env.cluster.config, objects, 'sovereign-cutover');
}

/** Removes every hold (NetworkPolicies by label, the Cilium policy by name); returns how many there were. */
export async function removeHolds(ctx: Ctx): Promise<number> {
  const { cluster } = ctx.env;
  let removed = 0;
  if ((await ciliumInstalled(cluster)) && (await deleteCiliumPolicy(cluster, CCNP_NAME))) removed++;
  const holds = await listNetworkPolicies(cluster, HOLD_SELECTOR);
  for (const h of holds) await deleteNetworkPolicy(cluster, h.namespace, h.name);
  return removed + holds.length;
}

/** How many hold policies exist (one cheap list; Cilium's policy is removed with the rest when there are any). */
export async function holdsLeft(cluster: KubeCluster): Promise<number> {
  return (await listNetworkPolicies(cluster, HOLD_SELECTOR)).length;
}

/** Names of things that are not Ready now: Flux sources/charts and workloads. */
async function notReady(ctx: Ctx): Promise<Set<string>> {
  const { cluster } = ctx.env;
  const bad = new Set<string>();
  for (const plural of ['gitrepositories', 'helmcharts', 'ocirepositories'] as FluxPlural[]) {
    for (const o of await listFluxAll(cluster, plural))
      if (readyCondition(o)?.status === 'False') bad.add(`${plural} ${o.metadata.namespace}/${o.metadata.name}`);
  }
  for (const w of await unreadyWorkloads(cluster)) bad.add(w);
  return bad;
}

async function plan(ctx: Ctx): Promise<Change[]> {
  return [
    {
      action: 'hold',
      target: `NetworkPolicy ${HOLD.name} in every namespace`,
      detail: `default-deny egress, allow DNS, the kube-apiserver + ${ctx.values.egressTest.allowCIDRs.join(', ')}`,
    },
    {
      action: 'probe',
      target: ctx.values.egressTest.callHomeURLs.join(', '),
      detail: 'must be unreachable from a pod',
    },
    { action: 'pull', target: 'a fresh pull on every node' },
    { action: 'watch', target: `no new NotReady for ${ctx.values.egressTest.durationSeconds} s` },
    {
      action: 'strip',
      target: 'the pull Secrets',
      detail: 'their upstream credentials, once the pulls are proven (kept in a backup for a rollback)',
    },
    { action: 'remove', target: 'the hold' },
  ];
}

/** Runs a pod and waits for it to end (or, with `started`, to start); resolves it. The pod is deleted after. */
export async function runPod(
  ctx: Ctx,
  name: string,
  spec: V1PodSpec,
  until: 'finished' | 'started',
  component = PROBE_COMPONENT,
): Promise<V1Pod> {
  const { cluster, namespace } = ctx.env;
  await createPod(cluster, namespace, {
    name,
    labels: { 'app.kubernetes.io/part-of': 'self-sovereign-cutover', 'app.kubernetes.io/component': component },
    spec,
  });
  try {
    return await waitPod(cluster, namespace, name, {
      signal: ctx.signal,
      done: (state) => Boolean(state?.terminated || (until === 'started' && state?.running)),
      code: 'probe-timeout',
      message: (pod) =>
        `pod ${namespace}/${name} did not ${until === 'started' ? 'start' : 'finish'} before the step deadline (last state: ${JSON.stringify(containerState(pod) ?? {})})`,
    });
  } finally {
    await deletePod(cluster, namespace, name).catch(() => undefined);
  }
}

async function apply(ctx: Ctx): Promise<void> {
  const runId = Date.now().toString(36);
  const baseline = await notReady(ctx);
  ctx.log(`baseline: ${baseline.size} object(s) already NotReady (they do not count)`);
  // Before the hold, a call-home URL must answer from a pod: then "unreachable under the hold" proves
  // the hold blocks (a CNI that ignores NetworkPolicy, or a site already cut off, cannot pass).
  const before = await runPod(
    ctx,
    `cutover-probe-before-${runId}`,
    {
      restartPolicy: 'Never',
      containers: [
        {
          name: 'probe',
          image: ctx.values.images.cutover,
          terminationMessagePolicy: 'FallbackToLogsOnError',
          args: ['probe', '--expect', 'reachable', '--within', '30', ...ctx.values.egressTest.callHomeURLs],
        },
      ],
    },
    'finished',
  );
  const reached = containerState(before)?.terminated;
  if (reached?.exitCode !== 0)
    throw new CutoverError(
      'proof-impossible',
      `no call-home URL answered from a pod before the hold, so the proof cannot show the hold blocking anything (${reached?.message ?? `exit ${reached?.exitCode}`}); egressTest.callHomeURLs must name upstream endpoints pods reach today`,
    );
  ctx.log('call-home reachable from a pod before the hold');
  try {
    await applyHolds(ctx);
    ctx.log('egress hold applied in every namespace');
    const held = Date.now();

    const probe = await runPod(
      ctx,
      `cutover-probe-${runId}`,
      {
        restartPolicy: 'Never',
        containers: [
          {
            name: 'probe',
            image: ctx.values.images.cutover,
            terminationMessagePolicy: 'FallbackToLogsOnError',
            args: ['probe', '--within', '60', ...ctx.values.egressTest.callHomeURLs],
          },
        ],
      },
      'finished',
    );
    const result = containerState(probe)?.terminated;
    if (result?.exitCode !== 0)
      throw new CutoverError(
        'egress-leak',
        `call-home probe failed (exit ${result?.exitCode}): ${result?.message ?? 'no output'}`,
      );
    ctx.log(
      `call-home blocked ${((Date.now() - held) / 1000).toFixed(1)} s after the hold: ${ctx.values.egressTest.callHomeURLs.join(', ')}`,
    );

    for (const node of await nodeNames(ctx.env.cluster)) {
      const pod = await runPod(
        ctx,
        `cutover-fresh-pull-${runId}-${node}`.slice(0, 63),
        {
          nodeName: node,
          restartPolicy: 'Never',
          tolerations: [{ operator: 'Exists' }],
          containers: [
            {
              name: 'pull',
              image: ctx.values.images.cutover,
              imagePullPolicy: 'Always',
              args: ['--version'],
              terminationMessagePolicy: 'FallbackToLogsOnError',
            },
          ],
        },
        'started',
      );
      const state = containerState(pod);
      if (state?.terminated && state.terminated.exitCode !== 0)
        throw new CutoverError(
          'fresh-pull-failed',
          `fresh pull on ${node} ran but failed: ${state.terminated.message ?? ''}`,
        );
      ctx.log(`fresh pull of ${ctx.values.images.cutover} on ${node} under the hold: ok`);
    }

    // Make Flux fetch under the hold too: sources must come from inside the Sovereign now (those of
    // the namespaces the cutover pivoted: the only ones it may touch).
    const token = new Date().toISOString();
    for (const namespace of fluxNamespaces(ctx.values))
      for (const plural of ['gitrepositories', 'helmcharts'] as FluxPlural[])
        for (const o of await listFlux(ctx.env.cluster, plural, namespace)) {
          const request = { metadata: { annotations: { [REQUESTED_AT]: token } } };
          await journalFields(ctx.env, egressBlockTest.id, fluxObject(plural, namespace, o.metadata.name), request);
          await patchFlux(ctx.env.cluster, plural, namespace, o.metadata.name, request);
        }
    // The window: nothing that was Ready may become NotReady until it ends; looked at every 5 s.
    const until = Date.now() + ctx.values.egressTest.durationSeconds * 1000;
    await pollUntil(
      async () => {
        const fresh = [...(await notReady(ctx))].filter((x) => !baseline.has(x));
        if (fresh.length)
          throw new CutoverError('new-not-ready', `under the egress hold these became NotReady: ${fresh.join(', ')}`);
        return Math.max(0, until - Date.now());
      },
      (left) => left === 0,
      {
        signal: ctx.signal,
        interval: () => Math.min(5000, Math.max(0, until - Date.now())),
        code: 'probe-timeout',
        message: (left) =>
          `the step deadline passed before the egress window ended (${Math.ceil(left / 1000)} s of it left; nothing new NotReady so far)`,
      },
    );
    ctx.log(`nothing became NotReady in ${ctx.values.egressTest.durationSeconds} s under the hold`);
    // Proven: the nodes and Flux pull from inside the Sovereign. Only now may the upstream keys go.
    await stripUpstreamCredentials(ctx, egressBlockTest.id);
  } finally {
    ctx.log(`egress hold removed (${await removeHolds(ctx)} policies)`);
  }
}

async function verify(ctx: Ctx): Promise<void> {
  const { cluster } = ctx.env;
  const left = await holdsLeft(cluster);
  const cilium = (await ciliumInstalled(cluster)) ? await countCiliumPolicies(cluster, HOLD_SELECTOR) : 0;
  if (left + cilium) throw new CutoverError('hold-leaked', `${left + cilium} egress hold policies are still present`);
  const credentials = await upstreamCredentialsLeft(ctx);
  if (credentials.length)
    throw new CutoverError(
      'upstream-credentials',
      `the pull Secrets still hold upstream credentials: ${credentials.join('; ')}`,
    );
}

async function reap(ctx: Ctx): Promise<void> {
  const removed = await removeHolds(ctx);
  if (removed) ctx.log(`reaped ${removed} egress hold policies left by an interrupted run`);
  await deletePods(ctx.env.cluster, ctx.env.namespace, `app.kubernetes.io/component=${PROBE_COMPONENT}`);
}

export const egressBlockTest: Step<StepEnv> = {
  id: 'egress-block-test',
  timeoutKey: 'egressBlockTestSeconds',
  plan,
  apply,
  verify,
  reap,
};
