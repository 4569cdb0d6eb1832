// 06 helmrepository-patches: every OCI HelmRepository and OCIRepository under the upstream prefix,
// in any namespace the cutover may patch, points at the local Harbor project its host maps to —
// durably (durable-pivot.ts). The local Harbor's credentials are added to the sources' pull Secret
// first (additive: the upstream entry stays until pulls are proven). Every URL is read back, a
// HelmChart is made to reconcile from the new URL, and every HelmRelease on these sources is Ready.
import { CutoverError } from '../core/errors.ts';
import { parseDockerConfig, serializeDockerConfig, withRegistryAuth } from '../core/docker-config.ts';
import type { Change, Step, StepContext } from '../core/step.ts';
import type { StepEnv } from './env.ts';
import { fluxNamespaces } from '../core/values.ts';
import { hostTls } from '../core/tls.ts';
import { HARBOR_CA_SECRET } from '../core/contracts.ts';
import { applyOwnSecret } from './own-secret.ts';
import { PEER_OBJECTS } from '../core/journal.ts';
import { journalFields, journalPeerCreate } from './journal.ts';
import { durabilityText, missing, pivotDurably, placementOf, type Pivot } from './durable-pivot.ts';
import { waitHelmReleasesOn } from './flux-consumers.ts';
import {
  getFlux,
  listFlux,
  fluxObject,
  patchFlux,
  readyCondition,
  readyOnCurrentGeneration,
  REQUESTED_AT,
  waitFlux,
  type FluxPlural,
  type FluxSource,
} from '../adapters/kube/flux.ts';

type Ctx = StepContext<StepEnv>;
export const KINDS: Array<{ plural: FluxPlural; kind: string }> = [
  { plural: 'helmrepositories', kind: 'HelmRepository' },
  { plural: 'ocirepositories', kind: 'OCIRepository' },
];

/** `oci://ghcr.io/openova-io` → `oci://<harbor>/<project of ghcr.io>/openova-io`. */
export function localPrefix(ctx: Ctx): string {
  return onLocalHarbor(ctx, ctx.values.helmRepositories.upstreamPrefix, 'helmRepositories.upstreamPrefix');
}

/** An `oci://<host>/<path>` URL on the local Harbor project its host maps to; `what` names it when no row does. */
function onLocalHarbor(ctx: Ctx, url: string, what: string): string {
  const rest = url.replace(/\/+$/, '').slice('oci://'.length);
  const host = rest.split('/')[0] ?? '';
  const row = ctx.values.harbor.hostProjects.find((r) => r.host === host);
  if (!row) throw new CutoverError('unmapped-host', `${what} host ${host} is not in harbor.hostProjects`);
  return `oci://${harborHost(ctx)}/${row.project}${rest.slice(host.length)}`;
}

const harborHost = (ctx: Ctx): string => new URL(ctx.values.sovereign.harborPublicURL).host;

/** The local URL a source should have: upstream ones map to the local Harbor, local ones stay. */
export function targetOf(ctx: Ctx, url: string): string | undefined {
  const upstream = ctx.values.helmRepositories.upstreamPrefix.replace(/\/+$/, '');
  const local = localPrefix(ctx);
  if (url === local || url.startsWith(`${local}/`)) return url;
  if (url !== upstream && !url.startsWith(`${upstream}/`)) return undefined;
  return local + url.slice(upstream.length);
}

export interface Source {
  plural: FluxPlural;
  kind: string;
  obj: FluxSource;
  /** Where it must point. */
  url: string;
}

/**
 * Every OCI HelmRepository and OCIRepository under the upstream prefix or already on the local
 * Harbor, in the namespaces the cutover may patch (`flux.namespaces`; one elsewhere stays a tether
 * the inventory shows).
 */
async function sources(ctx: Ctx): Promise<Source[]> {
  const found: Source[] = [];
  const named = ctx.values.helmRepositories;
  for (const namespace of fluxNamespaces(ctx.values))
    for (const { plural, kind } of KINDS)
      for (const obj of await listFlux(ctx.env.cluster, plural, namespace)) {
        const url = obj.spec.url ? targetOf(ctx, obj.spec.url) : undefined;
        if (url) found.push({ plural, kind, obj, url });
        // helmRepositories.names, the original's explicit list: a named HelmRepository outside the
        // upstream prefix is pivoted too, through the host table.
        else if (
          plural === 'helmrepositories' &&
          namespace === named.namespace &&
          named.names.includes(obj.metadata.name)
        )
          found.push({ plural, kind, obj, url: namedTargetOf(ctx, obj) });
      }
  return found;
}

/** The names in `helmRepositories.names` with no HelmRepository: skipped, as the original did. */
async function absentNamedHelmRepositories(ctx: Ctx): Promise<string[]> {
  const { names, namespace } = ctx.values.helmRepositories;
  if (!names.length) return [];
  const all = await listFlux(ctx.env.cluster, 'helmrepositories', namespace);
  return names.filter((n) => !all.some((o) => o.metadata.name === n));
}

/** Where a named HelmRepository goes: its OCI host's project on the local Harbor; refused when there is none. */
function namedTargetOf(ctx: Ctx, obj: FluxSource): string {
  const url = obj.spec.url ?? '';
  const named = `HelmRepository ${obj.metadata.namespace}/${obj.metadata.name} (in helmRepositories.names)`;
  if (!url.startsWith('oci://'))
    throw new CutoverError(
      'unpivotable-source',
      `${named} serves ${url || 'no URL'}: only an OCI repository can be copied into Harbor; take it out of helmRepositories.names or move it to OCI`,
    );
  if (url.slice('oci://'.length).split('/')[0] === harborHost(ctx)) return url;
  return onLocalHarbor(ctx, url, named);
}

const tethered = async (ctx: Ctx): Promise<Source[]> => (await sources(ctx)).filter((s) => s.obj.spec.url !== s.url);

/** The local Harbor's CA bundle when Flux must be given it (an HTTPS Harbor the values carry a CA for), else ''. */
function harborCa(ctx: Ctx): string {
  if (!ctx.values.sovereign.harborPublicURL.startsWith('https://')) return '';
  return hostTls(ctx.values.tls, harborHost(ctx)).caBundle;
}

export function pivotOf(ctx: Ctx, s: Source): Pivot {
  const { namespace, name } = s.obj.metadata;
  const insecure = ctx.values.sovereign.harborPublicURL.startsWith('http://');
  const ca = Boolean(harborCa(ctx));
  // `insecure` both ways: an upstream reached over plain HTTP must not leave an HTTPS Harbor "insecure".
  const spec = {
    url: s.url,
    insecure,
    ...(ca ? { certSecretRef: { name: HARBOR_CA_SECRET } } : {}),
  };
  return {
    object: { apiVersion: 'source.toolkit.fluxcd.io/v1', kind: s.kind, namespace, name, labels: s.obj.metadata.labels },
    fields: { spec },
    live: async () => {
      await patchFlux(ctx.env.cluster, s.plural, namespace, name, { spec });
    },
    applied: async () => {
      const now = await getFlux(ctx.env.cluster, s.plural, namespace, name);
      return (
        now.spec.url === s.url &&
        Boolean(now.spec.insecure) === insecure &&
        (!ca || now.spec.certSecretRef?.name === HARBOR_CA_SECRET)
      );
    },
  };
}

async function plan(ctx: Ctx): Promise<Change[]> {
  const changes: Change[] = (await absentNamedHelmRepositories(ctx)).map((name) => ({
    action: 'skip',
    target: `HelmRepository ${ctx.values.helmRepositories.namespace}/${name}`,
    detail: 'named in helmRepositories.names; there is none',
  }));
  for (const t of await tethered(ctx)) {
    const placement = await placementOf(ctx.env.cluster, pivotOf(ctx, t).object);
    changes.push({
      action: 'patch',
      target: `${t.kind} ${t.obj.metadata.namespace}/${t.obj.metadata.name}`,
      detail: `${t.obj.spec.url} → ${t.url} (${durabilityText(placement)})`,
    });
  }
  return changes;
}

/**
 * The pull Secrets' credentials for the local Harbor: a robot that may only pull, only in the cutover's
 * projects — never the admin. Journaled as created when new (a rollback deletes it); its secret is new
 * on every run, the old one stops working.
 */
async function pullRobot(ctx: Ctx): Promise<{ username: string; password: string }> {
  const { harbor, journal } = ctx.env;
  const name = ctx.values.harbor.pullRobot;
  await journalPeerCreate(journal, helmRepositoryPatches.id, PEER_OBJECTS.harborRobot(name), () => harbor.robot(name));
  const projects = [...new Set(ctx.values.harbor.hostProjects.map((row) => row.project))].sort();
  const credentials = await harbor.rotatePullRobot(name, projects);
  ctx.log(`Harbor robot ${credentials.username}: pull only, in ${projects.join(', ')}; a new secret`);
  return credentials;
}

/** Adds the local Harbor to a dockerconfigjson pull Secret, leaving every other entry alone. */
async function addHarborAuth(
  ctx: Ctx,
  namespace: string,
  name: string,
  harborCredentials: { username: string; password: string },
): Promise<void> {
  const { cluster } = ctx.env;
  const data = await cluster.secretData(namespace, name);
  const key = ctx.values.harbor.ghcrSecretRef.dockerConfigKey;
  const parsed = parseDockerConfig(data[key] ?? '{"auths":{}}');
  const host = harborHost(ctx);
  const config = withRegistryAuth(parsed, host, harborCredentials);
  if (!config) return;
  const added = (await ctx.env.journal.entries()).some(
    (e) => e.op === 'registry-auth' && e.host === host && e.object.namespace === namespace && e.object.name === name,
  );
  if (parsed.auths[host] && !added) {
    // The Sovereign gave this Secret its own credentials for the local Harbor: theirs stand (a rollback could not bring them back).
    ctx.log(`Secret ${namespace}/${name}: already has credentials for ${host}; left as they are`);
    return;
  }
  // The journal names the host only: rollback takes that entry out again (no credential is journaled).
  await ctx.env.journal.record(helmRepositoryPatches.id, [
    { op: 'registry-auth', object: { apiVersion: 'v1', kind: 'Secret', namespace, name }, path: ['data', key], host },
  ]);
  await cluster.mergeSecretData(namespace, name, { [key]: serializeDockerConfig(config) });
  ctx.log(`Secret ${namespace}/${name}: added ${host}`);
}

/**
 * The pull Secret the cutover changes, when a source names it: `harbor.ghcrSecretRef`'s name in
 * `helmRepositories.namespace` (the one Secret the runner may read and patch there).
 */
export async function pullSecretsOfSources(ctx: Ctx): Promise<Array<{ namespace: string; name: string }>> {
  const name = ctx.values.harbor.ghcrSecretRef.name;
  const namespace = ctx.values.helmRepositories.namespace;
  const named = (await sources(ctx)).some(
    (s) => s.obj.spec.secretRef?.name === name && s.obj.metadata.namespace === namespace,
  );
  return named ? [{ namespace, name }] : [];
}

/** Sources naming a pull Secret the cutover may not change: refused before anything is written. */
function refuseOtherPullSecrets(ctx: Ctx, tethered: Source[]): void {
  const allowed = ctx.values.harbor.ghcrSecretRef.name;
  const namespace = ctx.values.helmRepositories.namespace;
  const other = tethered.filter(
    (s) =>
      s.obj.spec.secretRef?.name && (s.obj.spec.secretRef.name !== allowed || s.obj.metadata.namespace !== namespace),
  );
  if (other.length)
    throw new CutoverError(
      'pull-secret-not-named',
      `${other.map((s) => `${s.kind} ${s.obj.metadata.namespace}/${s.obj.metadata.name} names Secret ${s.obj.metadata.namespace}/${s.obj.spec.secretRef?.name}`).join('; ')}: the cutover adds the local Harbor's credentials only to the pull Secret ${namespace}/${allowed} (harbor.ghcrSecretRef.name in helmRepositories.namespace, the one its RBAC names); point the source at that Secret or change those values`,
    );
}

async function apply(ctx: Ctx): Promise<void> {
  const secrets = new Set<string>();
  const all = await sources(ctx);
  refuseOtherPullSecrets(
    ctx,
    all.filter((s) => s.obj.spec.url !== s.url),
  );
  let robot: { username: string; password: string } | undefined;
  for (const t of all.filter((s) => s.obj.spec.url !== s.url)) {
    const secret = t.obj.spec.secretRef?.name;
    const key = `${t.obj.metadata.namespace}/${secret}`;
    if (secret && !secrets.has(key)) {
      robot ??= await pullRobot(ctx);
      await addHarborAuth(ctx, t.obj.metadata.namespace, secret, robot);
      secrets.add(key);
    }
  }
  // An HTTPS Harbor on a private CA: Flux gets the CA before any source points there.
  const caBundle = harborCa(ctx);
  if (caBundle)
    for (const ns of new Set(all.map((s) => s.obj.metadata.namespace))) {
      await applyOwnSecret(ctx.env, helmRepositoryPatches.id, ns, HARBOR_CA_SECRET, { 'ca.crt': caBundle });
      ctx.log(`Secret ${ns}/${HARBOR_CA_SECRET}: the local Harbor's CA for Flux (certSecretRef)`);
    }
  const placed = await pivotDurably(
    ctx.env,
    helmRepositoryPatches.id,
    all.map((s) => pivotOf(ctx, s)),
    ctx.signal,
    ctx.log,
  );
  for (const t of all.filter((s) => s.obj.spec.url !== s.url))
    ctx.log(`${t.kind} ${t.obj.metadata.namespace}/${t.obj.metadata.name}: ${t.obj.spec.url} → ${t.url}`);
  if (!placed.length) ctx.log('no OCI HelmRepository or OCIRepository under the upstream prefix');
}

async function verify(ctx: Ctx): Promise<void> {
  const all = await sources(ctx);
  const left = all.filter((s) => s.obj.spec.url !== s.url);
  if (left.length)
    throw new CutoverError(
      'not-pivoted',
      `still on upstream after the patch: ${left.map((t) => `${t.kind} ${t.obj.metadata.namespace}/${t.obj.metadata.name} (${t.obj.spec.url})`).join(', ')}`,
    );
  // An OCIRepository pulls its artifact itself: Ready on its current generation is the proof (03 copied it).
  for (const o of all.filter((s) => s.plural === 'ocirepositories')) {
    const { namespace, name } = o.obj.metadata;
    await waitFlux(
      ctx.env.cluster,
      'ocirepositories',
      namespace,
      name,
      ctx.signal,
      readyOnCurrentGeneration,
      `became Ready from ${o.url}`,
    );
    ctx.log(`OCIRepository ${namespace}/${name} Ready from ${o.url}`);
  }
  await proveChartPull(ctx, all);
  const releases = await waitHelmReleasesOn(
    ctx.env.cluster,
    all.map((s) => ({ kind: s.kind, source: s.obj })),
    ctx.signal,
  );
  if (releases.length) ctx.log(`${releases.length} HelmRelease(s) on the pivoted sources Ready`);
}

/** Proves a chart really comes from the new URL: one HelmChart of a pivoted repository pulls again. */
async function proveChartPull(ctx: Ctx, all: Source[]): Promise<void> {
  // The HelmCharts the runner may annotate: those in helmRepositories.namespace.
  const namespace = ctx.values.helmRepositories.namespace;
  const repos = all.filter((s) => s.plural === 'helmrepositories' && s.obj.metadata.namespace === namespace);
  const chart = (await listFlux(ctx.env.cluster, 'helmcharts', namespace)).find(
    (c) =>
      c.spec.sourceRef?.kind === 'HelmRepository' && repos.some((r) => r.obj.metadata.name === c.spec.sourceRef?.name),
  );
  if (!chart) {
    ctx.log('no HelmChart uses a pivoted HelmRepository; URLs read back only');
    return;
  }
  const token = new Date().toISOString();
  const request = { metadata: { annotations: { [REQUESTED_AT]: token } } };
  await journalFields(
    ctx.env,
    helmRepositoryPatches.id,
    fluxObject('helmcharts', namespace, chart.metadata.name),
    request,
  );
  await patchFlux(ctx.env.cluster, 'helmcharts', namespace, chart.metadata.name, request);
  await waitFlux(
    ctx.env.cluster,
    'helmcharts',
    namespace,
    chart.metadata.name,
    ctx.signal,
    (o) => o.status?.lastHandledReconcileAt === token && readyCondition(o)?.status === 'True',
    `reconciled Ready from ${localPrefix(ctx)}`,
  );
  ctx.log(`HelmChart ${namespace}/${chart.metadata.name} reconciled from ${localPrefix(ctx)}`);
}

export const helmRepositoryPatches: Step<StepEnv> = {
  id: 'helmrepository-patches',
  timeoutKey: 'helmRepositoryPatchesSeconds',
  plan,
  apply,
  verify,
  // A Flux re-apply, a revert or a lost spec.patches entry shows here.
  drift: async (ctx) =>
    missing(
      ctx.env.cluster,
      helmRepositoryPatches.id,
      (await sources(ctx)).map((s) => pivotOf(ctx, s)),
    ),
};
