// 05 flux-gitrepository-patch: the Flux GitRepository follows the Sovereign's Gitea. The revision
// Flux had before the flip is recorded on the object first. The proof is Flux Ready, on its current
// generation, at the mirror's current head of the branch it follows: upstream may push between the
// record and the flip (the mirror then brings the new commit, and waiting for the old one would
// never end), so the head is read again on every look; for a tag, semver or commit the recorded
// revision is the proof. If Gitea refuses anonymous clones, a basic-auth Secret is written and
// referenced before the URL changes.
import { remoteRefs } from '../adapters/git/upstream-refs.ts';
import type { KubernetesObject } from '@kubernetes/client-node';
import { serverSideApply } from '../adapters/kube/apply.ts';
import { CutoverError } from '../core/errors.ts';
import type { Change, Step, StepContext } from '../core/step.ts';
import type { StepEnv } from './env.ts';
import {
  getFlux,
  patchFlux,
  readyCondition,
  readyOnCurrentGeneration,
  REQUESTED_AT,
  type FluxSource,
} from '../adapters/kube/flux.ts';
import { doubling, pollUntil } from '../core/poll.ts';

type Ctx = StepContext<StepEnv>;
export const PRE_PIVOT_REVISION = 'cutover.openova.io/pre-pivot-revision';

export function localRepoURL(ctx: Ctx): string {
  return `${ctx.values.sovereign.giteaInternalURL.replace(/\/+$/, '')}/${ctx.values.gitea.org}/${ctx.values.gitea.repo}`;
}

const ref = (ctx: Ctx) => ({
  namespace: ctx.values.gitopsRepository.namespace,
  name: ctx.values.gitopsRepository.name,
});

async function plan(ctx: Ctx): Promise<Change[]> {
  const { namespace, name } = ref(ctx);
  const repo = await getFlux(ctx.env.cluster, 'gitrepositories', namespace, name);
  const url = localRepoURL(ctx);
  return repo.spec.url === url
    ? []
    : [{ action: 'patch', target: `GitRepository ${namespace}/${name}`, detail: `spec.url ${repo.spec.url} → ${url}` }];
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
  const { namespace, name } = ref(ctx);
  const url = localRepoURL(ctx);
  let repo = await getFlux(cluster, 'gitrepositories', namespace, name);
  if (!repo.metadata.annotations?.[PRE_PIVOT_REVISION]) {
    const revision = repo.status?.artifact?.revision;
    if (!revision || readyCondition(repo)?.status !== 'True') {
      throw new CutoverError(
        'flux-not-ready',
        `GitRepository ${namespace}/${name} is not Ready on upstream (${readyCondition(repo)?.message ?? 'no artifact'}); the pivot needs a revision to prove against`,
      );
    }
    repo = await patchFlux(cluster, 'gitrepositories', namespace, name, {
      metadata: { annotations: { [PRE_PIVOT_REVISION]: revision } },
    });
    ctx.log(`recorded pre-pivot revision ${revision}`);
  }
  // The mirror syncs on its own interval; make it current now so Flux finds the recorded revision.
  await ctx.env.forge.mirrorSync(ctx.values.gitea.org, ctx.values.gitea.repo);
  const spec: Record<string, unknown> = { url };
  if (!(await anonymousCloneWorks(url))) {
    const secretName = `${name}-gitea-auth`;
    await writeAuthSecret(ctx, namespace, secretName);
    spec.secretRef = { name: secretName };
    ctx.log(`Gitea needs auth: Secret ${namespace}/${secretName} referenced`);
  }
  if (
    repo.spec.url !== url ||
    (spec.secretRef && repo.spec.secretRef?.name !== (spec.secretRef as { name: string }).name)
  ) {
    await patchFlux(cluster, 'gitrepositories', namespace, name, {
      spec,
      metadata: { annotations: { [REQUESTED_AT]: new Date().toISOString() } },
    });
    ctx.log(`GitRepository ${namespace}/${name} → ${url}`);
  }
}

async function writeAuthSecret(ctx: Ctx, namespace: string, secretName: string): Promise<void> {
  const { cluster } = ctx.env;
  const gitea = await cluster.secretData(
    ctx.values.gitea.adminSecretRef.namespace,
    ctx.values.gitea.adminSecretRef.name,
  );
  const secret = {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name: secretName, namespace, labels: { 'app.kubernetes.io/part-of': 'self-sovereign-cutover' } },
    type: 'Opaque',
    stringData: {
      username: gitea[ctx.values.gitea.adminSecretRef.usernameKey] ?? '',
      password: gitea[ctx.values.gitea.adminSecretRef.passwordKey] ?? '',
    },
  };
  // Server-side apply: one request whether it exists or not, so the runner needs create + patch on this name only.
  await serverSideApply(cluster.config, [secret as KubernetesObject], 'sovereign-cutover');
}

/** The revision Flux must reach from the mirror (see the header); undefined while the mirror lacks the branch. */
async function expectedRevision(ctx: Ctx, repo: FluxSource): Promise<string | undefined> {
  const branch = repo.spec.ref?.branch;
  if (!branch || repo.spec.ref?.commit) return repo.metadata.annotations?.[PRE_PIVOT_REVISION];
  const head = await ctx.env.forge.branchHead(ctx.values.gitea.org, ctx.values.gitea.repo, branch);
  return head ? `${branch}@sha1:${head}` : undefined;
}

async function verify(ctx: Ctx): Promise<void> {
  const { namespace, name } = ref(ctx);
  const url = localRepoURL(ctx);
  const current = await getFlux(ctx.env.cluster, 'gitrepositories', namespace, name);
  const recorded = current.metadata.annotations?.[PRE_PIVOT_REVISION];
  if (current.spec.url !== url)
    throw new CutoverError('not-pivoted', `GitRepository ${namespace}/${name} still points at ${current.spec.url}`);
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
}

export const fluxGitRepositoryPatch: Step<StepEnv> = {
  id: 'flux-gitrepository-patch',
  timeoutKey: 'fluxGitRepositoryPatchSeconds',
  plan,
  apply,
  verify,
  // Flux re-applying an upstream URL from Git shows here: what plan would change again.
  drift: plan,
};
