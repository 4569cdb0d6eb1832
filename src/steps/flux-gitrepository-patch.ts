// 05 flux-gitrepository-patch: the Flux GitRepository follows the Sovereign's Gitea. The revision
// Flux had before the flip is recorded on the object first. The proof is Flux Ready, on its current
// generation, at the mirror's current head of the branch it follows: upstream may push between the
// record and the flip (the mirror then brings the new commit, and waiting for the old one would
// never end), so the head is read again on every look; for a tag, semver or commit the recorded
// revision is the proof, and every Kustomization on the source applies it. If Gitea refuses anonymous
// clones, a basic-auth Secret is written and referenced with the URL. Every GitRepository that follows
// the upstream repository is pivoted (a tenant's too), durably: see durable-pivot.ts.
import { randomBytes } from 'node:crypto';
import { remoteRefs } from '../adapters/git/upstream-refs.ts';
import { PEER_OBJECTS } from '../core/journal.ts';
import { CutoverError } from '../core/errors.ts';
import type { Change, Step, StepContext } from '../core/step.ts';
import type { StepEnv } from './env.ts';
import {
  getFlux,
  listFlux,
  patchFlux,
  readyCondition,
  readyOnCurrentGeneration,
  type FluxSource,
} from '../adapters/kube/flux.ts';
import { doubling, pollUntil } from '../core/poll.ts';
import { fluxNamespaces } from '../core/values.ts';
import { GITEA_AUTH_SECRET } from '../core/contracts.ts';
import { hostTls } from '../core/tls.ts';
import { sameRepoURL } from '../core/repo-url.ts';
import { applyOwnSecret } from './own-secret.ts';
import { journalFields, journalPeerCreate } from './journal.ts';
import { durabilityText, missing, pivotDurably, placementOf, type Pivot, type PivotObject } from './durable-pivot.ts';
import { waitKustomizationsOn } from './flux-consumers.ts';

type Ctx = StepContext<StepEnv>;
export const PRE_PIVOT_REVISION = 'cutover.openova.io/pre-pivot-revision';

export function localRepoURL(ctx: Ctx): string {
  return `${ctx.values.sovereign.giteaInternalURL.replace(/\/+$/, '')}/${ctx.values.gitea.org}/${ctx.values.gitea.repo}`;
}

/**
 * The GitRepositories this step pivots: the configured one and every other one that follows the
 * upstream repository (a tenant's) — or already follows the mirror (a rerun) — in the namespaces
 * the cutover may patch (`flux.namespaces`; one elsewhere stays a tether the inventory shows).
 */
async function repositories(ctx: Ctx): Promise<FluxSource[]> {
  const { namespace, name } = ctx.values.gitopsRepository;
  const local = localRepoURL(ctx);
  const found: FluxSource[] = [];
  for (const ns of fluxNamespaces(ctx.values))
    for (const r of await listFlux(ctx.env.cluster, 'gitrepositories', ns))
      if (
        (r.metadata.namespace === namespace && r.metadata.name === name) ||
        sameRepoURL(r.spec.url, ctx.values.upstream.repoURL) ||
        sameRepoURL(r.spec.url, local)
      )
        found.push(r);
  if (!found.some((r) => r.metadata.namespace === namespace && r.metadata.name === name))
    throw new CutoverError('not-found', `GitRepository ${namespace}/${name} (gitopsRepository) does not exist`);
  return found;
}

/** A GitRepository as the durable pivot names it (05's pivot, the pin intake's hold). */
export function gitRepositoryObject(repo: FluxSource): PivotObject {
  const { namespace, name, labels } = repo.metadata;
  return { apiVersion: 'source.toolkit.fluxcd.io/v1', kind: 'GitRepository', namespace, name, labels };
}

function pivotOf(ctx: Ctx, repo: FluxSource, secretRef?: { name: string }): Pivot {
  const { namespace, name } = repo.metadata;
  const url = localRepoURL(ctx);
  const spec = { url, ...(secretRef ? { secretRef } : {}) };
  return {
    object: gitRepositoryObject(repo),
    fields: { spec },
    live: async () => {
      await patchFlux(ctx.env.cluster, 'gitrepositories', namespace, name, { spec });
    },
    applied: async () => {
      const now = await getFlux(ctx.env.cluster, 'gitrepositories', namespace, name);
      return now.spec.url === url && (!secretRef || now.spec.secretRef?.name === secretRef.name);
    },
  };
}

async function plan(ctx: Ctx): Promise<Change[]> {
  const url = localRepoURL(ctx);
  const changes: Change[] = [];
  for (const repo of await repositories(ctx)) {
    if (repo.spec.url === url) continue;
    const { namespace, name } = repo.metadata;
    const placement = await placementOf(ctx.env.cluster, pivotOf(ctx, repo).object);
    changes.push({
      action: 'patch',
      target: `GitRepository ${namespace}/${name}`,
      detail: `spec.url ${repo.spec.url} → ${url} (${durabilityText(placement)})`,
    });
  }
  return changes;
}

/** The pivots as apply declared them (the auth Secret reference only where one was written). */
async function pivots(ctx: Ctx): Promise<Pivot[]> {
  return (await repositories(ctx)).map((repo) =>
    pivotOf(ctx, repo, repo.spec.secretRef?.name === GITEA_AUTH_SECRET ? { name: GITEA_AUTH_SECRET } : undefined),
  );
}

async function anonymousCloneWorks(url: string): Promise<boolean> {
  try {
    await remoteRefs(url);
    return true;
  } catch (error) {
    if ((error as { status?: number }).status === 401 || (error as { status?: number }).status === 403) return false;
    throw error;
  }
}

async function apply(ctx: Ctx): Promise<void> {
  const { cluster } = ctx.env;
  const url = localRepoURL(ctx);
  const repos = await repositories(ctx);
  for (const repo of repos) {
    const { namespace, name } = repo.metadata;
    if (repo.metadata.annotations?.[PRE_PIVOT_REVISION] || repo.spec.url === url) continue;
    const revision = repo.status?.artifact?.revision;
    if (!revision || readyCondition(repo)?.status !== 'True') {
      throw new CutoverError(
        'flux-not-ready',
        `GitRepository ${namespace}/${name} is not Ready on upstream (${readyCondition(repo)?.message ?? 'no artifact'}); the pivot needs a revision to prove against`,
      );
    }
    const record = { metadata: { annotations: { [PRE_PIVOT_REVISION]: revision } } };
    await journalFields(ctx.env, fluxGitRepositoryPatch.id, gitRepositoryObject(repo), record);
    await patchFlux(cluster, 'gitrepositories', namespace, name, record);
    ctx.log(`GitRepository ${namespace}/${name}: recorded pre-pivot revision ${revision}`);
  }
  // The mirror syncs on its own interval; make it current now so Flux finds the recorded revision.
  await ctx.env.forge.mirrorSync(ctx.values.gitea.org, ctx.values.gitea.repo);
  const anonymous = await anonymousCloneWorks(url);
  // Flux reads Gitea's CA from the GitRepository's secretRef (`ca.crt`; a GitRepository has no certSecretRef).
  const caBundle = giteaCa(ctx);
  const secretNeeded = !anonymous || Boolean(caBundle);
  const wanted: Pivot[] = [];
  const credentials = anonymous ? undefined : await mintReadToken(ctx);
  if (secretNeeded)
    for (const ns of new Set(repos.map((r) => r.metadata.namespace))) {
      await writeAuthSecret(ctx, ns, GITEA_AUTH_SECRET, { credentials, caBundle });
      ctx.log(
        `Secret ${ns}/${GITEA_AUTH_SECRET} referenced: ${[!anonymous && 'Gitea needs auth', caBundle && "Gitea's CA"].filter(Boolean).join(', ')}`,
      );
    }
  for (const repo of repos) {
    wanted.push(pivotOf(ctx, repo, secretNeeded ? { name: GITEA_AUTH_SECRET } : undefined));
  }
  await pivotDurably(ctx.env, fluxGitRepositoryPatch.id, wanted, ctx.signal, ctx.log);
  for (const repo of repos) ctx.log(`GitRepository ${repo.metadata.namespace}/${repo.metadata.name} → ${url}`);
}

/** Gitea's CA bundle when Flux must be given it (HTTPS Gitea the values carry a CA for), else ''. */
function giteaCa(ctx: Ctx): string {
  const url = localRepoURL(ctx);
  return url.startsWith('https://') ? hostTls(ctx.values.tls, new URL(url).host).caBundle : '';
}

/** The Gitea token Flux gets for the one repository's name. */
export const FLUX_TOKEN_NAME = 'flux';

/**
 * Flux's credential for a Gitea that refuses anonymous clones: never the admin's. A user of its own
 * (`gitea.fluxReader`, journaled as created when it is new: a rollback removes it and so revokes the
 * token), a read-only collaborator of the one repository, with a token scoped `read:repository`,
 * minted again on every run (the old one deleted first). The user's password lives only in this call.
 */
async function mintReadToken(ctx: Ctx): Promise<{ username: string; password: string }> {
  const { forge, journal } = ctx.env;
  const { fluxReader: reader, org, repo } = ctx.values.gitea;
  await journalPeerCreate(journal, fluxGitRepositoryPatch.id, PEER_OBJECTS.giteaUser(reader), () =>
    forge.userExists(reader),
  );
  const password = randomBytes(24).toString('base64url');
  await forge.upsertUser(reader, password);
  await forge.addReadCollaborator(org, repo, reader);
  const token = await forge.rotateReadToken(reader, password, FLUX_TOKEN_NAME);
  ctx.log(`Gitea user ${reader}: read-only on ${org}/${repo}, a new read:repository token for Flux`);
  return { username: reader, password: token };
}

async function writeAuthSecret(
  ctx: Ctx,
  namespace: string,
  secretName: string,
  what: { credentials: { username: string; password: string } | undefined; caBundle: string },
): Promise<void> {
  await applyOwnSecret(ctx.env, fluxGitRepositoryPatch.id, namespace, secretName, {
    ...(what.credentials ?? {}),
    ...(what.caBundle ? { 'ca.crt': what.caBundle } : {}),
  });
}

/** The revision Flux must reach from the mirror (see the header); undefined while the mirror lacks the branch. */
async function expectedRevision(ctx: Ctx, repo: FluxSource): Promise<string | undefined> {
  const branch = repo.spec.ref?.branch;
  // A commit — pinned in Git, or the pin radar's hold on the last verified revision (ADR 0017) — is what Flux reports.
  const commit = repo.spec.ref?.commit;
  if (commit) return branch ? `${branch}@sha1:${commit}` : `sha1:${commit}`;
  if (!branch) return repo.metadata.annotations?.[PRE_PIVOT_REVISION];
  const head = await ctx.env.forge.branchHead(ctx.values.gitea.org, ctx.values.gitea.repo, branch);
  return head ? `${branch}@sha1:${head}` : undefined;
}

async function verify(ctx: Ctx): Promise<void> {
  const url = localRepoURL(ctx);
  const repos = await repositories(ctx);
  const left = repos.filter((r) => r.spec.url !== url);
  if (left.length)
    throw new CutoverError(
      'not-pivoted',
      `${left.map((r) => `GitRepository ${r.metadata.namespace}/${r.metadata.name}`).join(', ')} still point at ${left[0]!.spec.url}`,
    );
  for (const { metadata } of repos) {
    const { namespace, name } = metadata;
    const recorded = metadata.annotations?.[PRE_PIVOT_REVISION];
    const { repo, expected } = await pollUntil(
      async () => {
        const repo = await getFlux(ctx.env.cluster, 'gitrepositories', namespace, name);
        return { repo, expected: await expectedRevision(ctx, repo) };
      },
      ({ repo, expected }) =>
        expected !== undefined && readyOnCurrentGeneration(repo) && repo.status?.artifact?.revision === expected,
      {
        signal: ctx.signal,
        interval: doubling(500, 5000),
        code: 'flux-not-ready',
        message: ({ repo, expected }) => {
          const ready = readyCondition(repo);
          return `gitrepositories ${namespace}/${name} never became Ready on ${expected ?? 'the mirror head'} from ${url} (at ${repo.status?.artifact?.revision ?? 'no artifact'}; Ready=${ready?.status ?? 'unknown'} ${ready?.reason ?? ''}: ${ready?.message ?? ''})`;
        },
      },
    );
    const moved = recorded && recorded !== expected ? ` (upstream moved on from ${recorded} since the record)` : '';
    ctx.log(
      `GitRepository ${namespace}/${name} Ready at ${repo.status?.artifact?.revision} from the Sovereign's Gitea${moved}`,
    );
    // What the source feeds must apply the mirror's revision: every Kustomization on it, Ready.
    for (const k of await waitKustomizationsOn(ctx.env.cluster, repo, ctx.signal))
      ctx.log(`Kustomization ${k.metadata.namespace}/${k.metadata.name} applied ${k.status?.lastAppliedRevision}`);
  }
}

export const fluxGitRepositoryPatch: Step<StepEnv> = {
  id: 'flux-gitrepository-patch',
  timeoutKey: 'fluxGitRepositoryPatchSeconds',
  plan,
  apply,
  verify,
  // A Flux re-apply, a revert or a lost spec.patches entry shows here.
  drift: async (ctx) => missing(ctx.env.cluster, fluxGitRepositoryPatch.id, await pivots(ctx)),
};
