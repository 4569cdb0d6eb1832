// `cutover check` (issue 16 §3), like `flux check --pre`: what must hold before a cutover can run,
// read from the cluster and the peers — one result per check, blocking ones fail the command (and
// `cutover run`, which runs the quick ones first). The rehearsal runs probe pods in the install
// namespace under a trial of the egress hold that selects only them: the apiserver, Harbor and
// Gitea must answer under it and an upstream must not (NetworkPolicy enforced).
import { canI, type KubeCluster, type Permission } from '../adapters/kube/cluster.ts';
import { deleteObject, readObject } from '../adapters/kube/objects.ts';
import { serverSideApply } from '../adapters/kube/apply.ts';
import { containerState } from '../adapters/kube/pods.ts';
import { redact } from '../core/errors.ts';
import { agentNamespace } from '../core/contracts.ts';
import { NodeReports } from '../adapters/kube/node-reports.ts';
import type { CheckResult } from '../core/check.ts';
import type { StepContext } from '../core/step.ts';
import { runnerGrants } from '../render/rbac.ts';
import { TRIAL_HOLD } from '../core/contracts.ts';
import type { StepEnv } from './env.ts';
import { holdApiserver, holdPolicy, runPod } from './egress-block-test.ts';
import { inventory } from './harbor-prewarm.ts';
import type { DistributionClient } from '../adapters/oci/distribution-client.ts';
import { forEachLimited } from '../core/limit.ts';
import { formatImageRef, reference } from '../core/image-ref.ts';
import { nodeNames } from '../adapters/kube/nodes.ts';

type Ctx = StepContext<StepEnv>;
type Outcome = Pick<CheckResult, 'status' | 'detail'>;
type Check = { name: string; blocking: boolean; quick: boolean; run: (ctx: Ctx) => Promise<Outcome> };

const pass = (detail: string) => ({ status: 'pass' as const, detail });
const fail = (detail: string) => ({ status: 'fail' as const, detail });
const warn = (detail: string) => ({ status: 'warn' as const, detail });

/** Every permission the run needs, one per verb and name, as the install's RBAC grants them to the runner. */
function permissionsNeeded(ctx: Ctx): Permission[] {
  return runnerGrants(ctx.values, ctx.env.namespace).flatMap((g) =>
    g.verbs.flatMap((verb) =>
      (g.resourceNames?.length ? g.resourceNames : [undefined]).map((name) => ({
        verb,
        group: g.apiGroup,
        resource: g.resource,
        ...(g.namespace ? { namespace: g.namespace } : {}),
        ...(name ? { name } : {}),
      })),
    ),
  );
}

const describePermission = (p: Permission): string =>
  `${p.verb} ${p.group ? `${p.group}/` : ''}${p.resource}${p.name ? `/${p.name}` : ''}${p.namespace ? ` in ${p.namespace}` : ' cluster-wide'}`;

async function rbac(ctx: Ctx): Promise<Outcome> {
  const needed = permissionsNeeded(ctx);
  const missing: string[] = [];
  for (const p of needed) if (!(await canI(ctx.env.cluster, p))) missing.push(describePermission(p));
  return missing.length
    ? fail(`${missing.length} of ${needed.length} permissions the run needs are not granted: ${missing.join('; ')}`)
    : pass(`all ${needed.length} permissions the run needs are granted (SelfSubjectAccessReview)`);
}

async function harbor(ctx: Ctx): Promise<Outcome> {
  const { hostProjects } = ctx.values.harbor;
  await ctx.env.harbor.project(hostProjects[0]?.project ?? 'library');
  await ctx.env.registries.local.ping();
  return pass(`${ctx.values.sovereign.harborInternalURL}: API and registry answer with the admin credentials`);
}

async function gitea(ctx: Ctx): Promise<Outcome> {
  await ctx.env.forge.orgExists(ctx.values.gitea.org);
  return pass(`${ctx.values.sovereign.giteaInternalURL}: the API answers with the admin credentials`);
}

const FLUX_APIS: Array<{ group: string; version: string; resource: string; required: boolean }> = [
  { group: 'source.toolkit.fluxcd.io', version: 'v1', resource: 'gitrepositories', required: true },
  { group: 'source.toolkit.fluxcd.io', version: 'v1', resource: 'helmrepositories', required: true },
  { group: 'source.toolkit.fluxcd.io', version: 'v1', resource: 'ocirepositories', required: false },
  { group: 'source.toolkit.fluxcd.io', version: 'v1', resource: 'helmcharts', required: true },
  { group: 'kustomize.toolkit.fluxcd.io', version: 'v1', resource: 'kustomizations', required: true },
  { group: 'helm.toolkit.fluxcd.io', version: 'v2', resource: 'helmreleases', required: false },
];

/** The resources a group/version serves (empty when it is not served). */
async function served(cluster: KubeCluster, group: string, version: string): Promise<string[]> {
  try {
    return (await cluster.custom.getAPIResources({ group, version })).resources.map((r) => r.name);
  } catch {
    return [];
  }
}

async function fluxApis(ctx: Ctx): Promise<Outcome> {
  const missing: string[] = [];
  const optional: string[] = [];
  for (const api of FLUX_APIS)
    if (!(await served(ctx.env.cluster, api.group, api.version)).includes(api.resource))
      (api.required ? missing : optional).push(`${api.resource}.${api.group}/${api.version}`);
  if (missing.length) return fail(`not served: ${missing.join(', ')} (the cutover needs Flux v2.3 or later)`);
  return optional.length
    ? warn(`served, but not ${optional.join(', ')}: objects of those kinds are not pivoted`)
    : pass('source v1, kustomize v1 and helm v2 are served');
}

async function podSecurity(ctx: Ctx): Promise<Outcome> {
  // Listed, not read one by one: the runner may list namespaces (08's hold), not get them.
  const namespaces = (await ctx.env.cluster.core.listNamespace()).items;
  const level = (ns: string) => {
    const o = namespaces.find((n) => n.metadata?.name === ns);
    if (!o) return undefined;
    return (o.metadata?.labels ?? {})['pod-security.kubernetes.io/enforce'] ?? 'privileged (no label)';
  };
  const install = level(ctx.env.namespace);
  const agentNs = agentNamespace(ctx.values, ctx.env.namespace);
  const agent = level(agentNs);
  if (install === undefined) return fail(`the install namespace ${ctx.env.namespace} does not exist`);
  if (agent !== undefined && !agent.startsWith('privileged'))
    return fail(
      `the node agent's namespace ${agentNs} enforces ${agent}: its DaemonSet writes the nodes' containerd config and needs privileged`,
    );
  return pass(
    `${ctx.env.namespace} enforces ${install} (step pods meet restricted); ${agentNs}: ${agent ?? 'created by the install or step 04, privileged'}`,
  );
}

async function nodesContainerd(ctx: Ctx): Promise<Outcome> {
  const nodes = await nodeNames(ctx.env.cluster);
  const reports = new Map(
    (await NodeReports.forInstall(ctx.env.cluster, ctx.values, ctx.env.namespace).list()).map((r) => [
      r.node,
      r.registryHosts ?? {},
    ]),
  );
  const reported = nodes.filter((n) => reports.has(n));
  if (!reported.length)
    return warn(
      `no node agent has reported yet (${nodes.length} node(s)): containerd's certs.d is checked by step 04 on every node`,
    );
  const missing = nodes.filter((n) => !reported.includes(n));
  if (missing.length) return warn(`no report from ${missing.join(', ')}: their agents have not run yet`);
  // Each report: host → what the node's certs.d/<host>/hosts.toml routes it through ('unreadable': a broken file).
  const broken = reported.flatMap((n) =>
    Object.entries(reports.get(n) ?? {})
      .filter(([, route]) => route === 'unreadable')
      .map(([host]) => `${n}: certs.d/${host}/hosts.toml`),
  );
  return broken.length
    ? fail(`containerd cannot read ${broken.join(', ')}: the pivot would write over a file it cannot parse`)
    : pass(`every node's agent reads its containerd certs.d for each mapped host (${reported.length} node(s))`);
}

/** The platforms an image serves: an index's entries, or a single manifest's config. */
async function platformsOf(client: DistributionClient, repo: string, ref: string): Promise<string[]> {
  const top = await client.getManifest(repo, ref);
  const doc = JSON.parse(Buffer.from(top.bytes).toString('utf8')) as {
    manifests?: Array<{ platform?: { os: string; architecture: string } }>;
    config?: { digest: string };
  };
  if (doc.manifests) return doc.manifests.map((m) => `${m.platform?.os ?? '?'}/${m.platform?.architecture ?? '?'}`);
  if (!doc.config) return [];
  const config = JSON.parse(Buffer.from(await client.getBlob(repo, doc.config.digest)).toString('utf8')) as {
    os?: string;
    architecture?: string;
  };
  return [`${config.os ?? 'linux'}/${config.architecture ?? '?'}`];
}

/** Every image in use serves every node's platform (read from the local Harbor, else upstream). */
async function architectures(ctx: Ctx): Promise<Outcome> {
  const archs = new Set<string>();
  for (const n of (await ctx.env.cluster.core.listNode()).items)
    archs.add(`${n.status?.nodeInfo?.operatingSystem ?? 'linux'}/${n.status?.nodeInfo?.architecture ?? '?'}`);
  const images = (await inventory(ctx)).filter((a) => a.kind === 'image');
  const lacking: string[] = [];
  await forEachLimited(images, 4, async (a) => {
    const ref = reference(a.ref);
    const platforms = await platformsOf(ctx.env.registries.local, a.localRepo, ref).catch(() =>
      platformsOf(ctx.env.registries.upstream(a.row), a.ref.path, ref),
    );
    const missing = [...archs].filter((arch) => !platforms.includes(arch));
    if (missing.length) lacking.push(`${formatImageRef(a.ref)} (no ${missing.join(', ')})`);
  });
  return lacking.length
    ? fail(`${lacking.length} of ${images.length} images in use cannot run on every node: ${lacking.sort().join('; ')}`)
    : pass(`nodes: ${[...archs].join(', ')}; all ${images.length} images in use serve each`);
}

async function blueprintCrd(ctx: Ctx): Promise<Outcome> {
  const crd = await readObject(ctx.env.cluster, {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    name: 'blueprints.catalyst.openova.io',
  }).catch(() => undefined);
  return crd
    ? pass('the Blueprint CRD is served (the install ships a Blueprint document)')
    : warn('the Blueprint CRD is not served: render the install without the Blueprint document');
}

const PROBE = 'cutover-check-probe';

/**
 * The hold rehearsed on probe pods only: the apiserver, Harbor and Gitea must answer under it (the
 * allow-list covers them as pods reach them), an upstream must not (NetworkPolicy is enforced).
 */
async function holdRehearsal(ctx: Ctx): Promise<Outcome> {
  const { cluster, namespace } = ctx.env;
  const id = Date.now().toString(36);
  const trial = holdPolicy(ctx, namespace, await holdApiserver(ctx), { name: TRIAL_HOLD, component: PROBE });
  await serverSideApply(cluster.config, [trial], 'sovereign-cutover');
  try {
    // As pods reach it: the kubernetes Service's address (what KUBERNETES_SERVICE_HOST tells them).
    const service = await cluster.core.readNamespacedService({ name: 'kubernetes', namespace: 'default' });
    const apiserver = `https://${service.spec?.clusterIP}:${service.spec?.ports?.[0]?.port ?? 443}/version`;
    const probes: Array<{ what: string; expect: 'reachable' | 'blocked'; url: string }> = [
      { what: 'the apiserver', expect: 'reachable', url: apiserver },
      { what: 'Harbor', expect: 'reachable', url: `${ctx.values.sovereign.harborInternalURL.replace(/\/+$/, '')}/v2/` },
      {
        what: 'Gitea',
        expect: 'reachable',
        url: `${ctx.values.sovereign.giteaInternalURL.replace(/\/+$/, '')}/api/v1/version`,
      },
      ...ctx.values.egressTest.callHomeURLs.slice(0, 1).map((url) => ({ what: url, expect: 'blocked' as const, url })),
    ];
    const results = await Promise.all(
      probes.map(async (p, i) => {
        const pod = await runPod(
          ctx,
          `${PROBE}-${id}-${i}`,
          {
            restartPolicy: 'Never',
            containers: [
              {
                name: 'probe',
                image: ctx.values.images.cutover,
                terminationMessagePolicy: 'FallbackToLogsOnError',
                args: ['probe', '--expect', p.expect, '--within', '20', p.url],
              },
            ],
          },
          'finished',
          PROBE,
        );
        return { ...p, ok: containerState(pod)?.terminated?.exitCode === 0 };
      }),
    );
    const cut = results.filter((r) => r.expect === 'reachable' && !r.ok).map((r) => r.what);
    const leaked = results.filter((r) => r.expect === 'blocked' && !r.ok).map((r) => r.what);
    if (cut.length)
      return fail(
        `under the hold a pod cannot reach ${cut.join(', ')}: add where pods reach ${cut.length > 1 ? 'them' : 'it'} to egressTest.allowCIDRs (the apiserver: egressTest.apiserverCIDRs)`,
      );
    if (leaked.length)
      return fail(
        `under the hold a pod still reaches ${leaked.join(', ')}: NetworkPolicy is not enforced (a CNI that ignores it cannot hold egress)`,
      );
    return pass(
      `under a trial hold a pod reaches the apiserver, Harbor and Gitea${results.some((r) => r.expect === 'blocked') ? ' and not upstream (NetworkPolicy enforced)' : ''}`,
    );
  } finally {
    await deleteObject(cluster, {
      apiVersion: 'networking.k8s.io/v1',
      kind: 'NetworkPolicy',
      namespace,
      name: TRIAL_HOLD,
    }).catch(() => undefined);
  }
}

const CHECKS: Check[] = [
  { name: 'rbac', blocking: true, quick: true, run: rbac },
  { name: 'harbor', blocking: true, quick: true, run: harbor },
  { name: 'gitea', blocking: true, quick: true, run: gitea },
  { name: 'flux-api', blocking: true, quick: true, run: fluxApis },
  { name: 'pod-security', blocking: true, quick: true, run: podSecurity },
  { name: 'hold-rehearsal', blocking: true, quick: false, run: holdRehearsal },
  { name: 'node-containerd', blocking: false, quick: false, run: nodesContainerd },
  { name: 'architectures', blocking: false, quick: false, run: architectures },
  { name: 'blueprint-crd', blocking: false, quick: false, run: blueprintCrd },
];

/** Runs the checks (`quick`: only those `cutover run` runs first); a check that throws fails with the error. */
export async function preflight(ctx: Ctx, options: { quick?: boolean } = {}): Promise<CheckResult[]> {
  const results: CheckResult[] = [];
  for (const check of CHECKS.filter((c) => !options.quick || c.quick)) {
    const result = await check
      .run(ctx)
      .catch((error: unknown) => fail(redact(error instanceof Error ? error.message : String(error))));
    results.push({
      name: check.name,
      blocking: check.blocking,
      ...result,
      // A warning never blocks; a failure of a non-blocking check is shown as a warning.
      status: result.status === 'fail' && !check.blocking ? 'warn' : result.status,
    });
  }
  return results;
}
