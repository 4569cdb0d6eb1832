// 06 helmrepository-patches: every OCI HelmRepository and OCIRepository under the upstream prefix
// points at the local Harbor project its host maps to. The local Harbor's credentials are added to
// the sources' pull Secret first (additive: the upstream entry stays until pulls are proven). Every
// URL is read back, and a HelmChart is made to reconcile from the new URL.
import { CutoverError } from '../core/errors.ts';
import { parseDockerConfig, serializeDockerConfig, withRegistryAuth } from '../core/docker-config.ts';
import type { Change, Step, StepContext } from '../core/step.ts';
import type { StepEnv } from './env.ts';
import {
  listFlux,
  patchFlux,
  readyCondition,
  readyOnCurrentGeneration,
  REQUESTED_AT,
  waitFlux,
  type FluxPlural,
  type FluxSource,
} from '../adapters/kube/flux.ts';

type Ctx = StepContext<StepEnv>;
const KINDS: Array<{ plural: FluxPlural; kind: string }> = [
  { plural: 'helmrepositories', kind: 'HelmRepository' },
  { plural: 'ocirepositories', kind: 'OCIRepository' },
];

/** `oci://ghcr.io/openova-io` → `oci://<harbor>/<project of ghcr.io>/openova-io`. */
export function localPrefix(ctx: Ctx): string {
  const upstream = ctx.values.helmRepositories.upstreamPrefix.replace(/\/+$/, '');
  const rest = upstream.slice('oci://'.length);
  const host = rest.split('/')[0] ?? '';
  const row = ctx.values.harbor.hostProjects.find((r) => r.host === host);
  if (!row)
    throw new CutoverError(
      'unmapped-host',
      `helmRepositories.upstreamPrefix host ${host} is not in harbor.hostProjects`,
    );
  return `oci://${harborHost(ctx)}/${row.project}${rest.slice(host.length)}`;
}

const harborHost = (ctx: Ctx): string => new URL(ctx.values.sovereign.harborPublicURL).host;

function pivoted(ctx: Ctx, url: string): string | undefined {
  const upstream = ctx.values.helmRepositories.upstreamPrefix.replace(/\/+$/, '');
  if (url !== upstream && !url.startsWith(`${upstream}/`)) return undefined;
  return localPrefix(ctx) + url.slice(upstream.length);
}

async function tethered(ctx: Ctx): Promise<Array<{ plural: FluxPlural; kind: string; obj: FluxSource; url: string }>> {
  const found = [];
  for (const { plural, kind } of KINDS) {
    for (const obj of await listFlux(ctx.env.cluster, plural, ctx.values.helmRepositories.namespace)) {
      const url = obj.spec.url ? pivoted(ctx, obj.spec.url) : undefined;
      if (url) found.push({ plural, kind, obj, url });
    }
  }
  return found;
}

async function plan(ctx: Ctx): Promise<Change[]> {
  return (await tethered(ctx)).map((t) => ({
    action: 'patch',
    target: `${t.kind} ${t.obj.metadata.namespace}/${t.obj.metadata.name}`,
    detail: `${t.obj.spec.url} → ${t.url}`,
  }));
}

/** Adds the local Harbor to a dockerconfigjson pull Secret, leaving every other entry alone. */
async function addHarborAuth(ctx: Ctx, namespace: string, name: string): Promise<void> {
  const { cluster, harborCredentials } = ctx.env;
  const data = await cluster.secretData(namespace, name);
  const key = '.dockerconfigjson';
  const parsed = parseDockerConfig(data[key] ?? '{"auths":{}}');
  const host = harborHost(ctx);
  const config = withRegistryAuth(parsed, host, harborCredentials);
  if (!config) return;
  await cluster.mergeSecretData(namespace, name, { [key]: serializeDockerConfig(config) });
  ctx.log(`Secret ${namespace}/${name}: added ${host}`);
}

async function apply(ctx: Ctx): Promise<void> {
  const insecure = ctx.values.sovereign.harborPublicURL.startsWith('http://');
  const secrets = new Set<string>();
  for (const t of await tethered(ctx)) {
    const secret = t.obj.spec.secretRef?.name;
    if (secret && !secrets.has(secret)) {
      await addHarborAuth(ctx, t.obj.metadata.namespace, secret);
      secrets.add(secret);
    }
    await patchFlux(ctx.env.cluster, t.plural, t.obj.metadata.namespace, t.obj.metadata.name, {
      spec: { url: t.url, ...(insecure ? { insecure: true } : {}) },
      metadata: { annotations: { [REQUESTED_AT]: new Date().toISOString() } },
    });
    ctx.log(`${t.kind} ${t.obj.metadata.name}: ${t.obj.spec.url} → ${t.url}`);
  }
}

async function verify(ctx: Ctx): Promise<void> {
  const left = await tethered(ctx);
  if (left.length)
    throw new CutoverError(
      'not-pivoted',
      `still on upstream after the patch: ${left.map((t) => `${t.kind} ${t.obj.metadata.name} (${t.obj.spec.url})`).join(', ')}`,
    );
  const namespace = ctx.values.helmRepositories.namespace;
  const prefix = localPrefix(ctx);
  // An OCIRepository pulls its artifact itself: Ready on its current generation is the proof (03 copied it).
  for (const o of await listFlux(ctx.env.cluster, 'ocirepositories', namespace)) {
    if (!o.spec.url?.startsWith(prefix)) continue;
    await waitFlux(
      ctx.env.cluster,
      'ocirepositories',
      namespace,
      o.metadata.name,
      ctx.signal,
      readyOnCurrentGeneration,
      `became Ready from ${o.spec.url}`,
    );
    ctx.log(`OCIRepository ${namespace}/${o.metadata.name} Ready from ${o.spec.url}`);
  }
  // Prove a chart really comes from the new URL: ask one HelmChart to reconcile and wait for it.
  const repos = (await listFlux(ctx.env.cluster, 'helmrepositories', namespace)).filter((r) =>
    r.spec.url?.startsWith(prefix),
  );
  const chart = (await listFlux(ctx.env.cluster, 'helmcharts', namespace)).find(
    (c) => c.spec.sourceRef?.kind === 'HelmRepository' && repos.some((r) => r.metadata.name === c.spec.sourceRef?.name),
  );
  if (!chart) {
    ctx.log('no HelmChart uses a pivoted HelmRepository; URLs read back only');
    return;
  }
  const token = new Date().toISOString();
  await patchFlux(ctx.env.cluster, 'helmcharts', namespace, chart.metadata.name, {
    metadata: { annotations: { [REQUESTED_AT]: token } },
  });
  await waitFlux(
    ctx.env.cluster,
    'helmcharts',
    namespace,
    chart.metadata.name,
    ctx.signal,
    (o) => o.status?.lastHandledReconcileAt === token && readyCondition(o)?.status === 'True',
    `reconciled Ready from ${prefix}`,
  );
  ctx.log(`HelmChart ${namespace}/${chart.metadata.name} reconciled from ${prefix}`);
}

export const helmRepositoryPatches: Step<StepEnv> = {
  id: 'helmrepository-patches',
  timeoutKey: 'helmRepositoryPatchesSeconds',
  plan,
  apply,
  verify,
  // Flux re-applying an upstream URL from Git shows here: what plan would change again.
  drift: plan,
};
