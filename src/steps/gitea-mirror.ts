// 01 gitea-mirror: the Sovereign's Gitea holds a pull mirror of the upstream GitOps repo.
// Ensure the org; migrate as a mirror (Gitea sets the mirror flag only at creation); an existing
// mirror gets the configured interval and an immediate sync. Verify: a non-empty mirror whose
// branch head equals upstream's. After the cutover, observeMirror is how the serving process keeps
// watching that the mirror keeps up.
import { remoteRefs } from '../adapters/git/upstream-refs.ts';
import type { Forge } from '../adapters/gitea/gitea-forge.ts';
import { PEER_OBJECTS } from '../core/journal.ts';
import { journalPeerCreate } from './journal.ts';
import { CutoverError, PeerError, redact } from '../core/errors.ts';
import type { MirrorObservation } from '../core/mirror-health.ts';
import type { Values } from '../core/values.ts';
import { sameRepoURL } from '../core/repo-url.ts';
import { doubling, pollUntil } from '../core/poll.ts';
import type { Change, Step, StepContext } from '../core/step.ts';
import type { StepEnv } from './env.ts';

type Ctx = StepContext<StepEnv>;

const MIGRATE_CLIENT_TIMEOUT_MS = 120_000;

function target(ctx: Ctx): { org: string; repo: string; label: string } {
  const { org, repo } = ctx.values.gitea;
  return { org, repo, label: `gitea repo ${org}/${repo}` };
}

async function plan(ctx: Ctx): Promise<Change[]> {
  const { forge } = ctx.env;
  const { org, repo, label } = target(ctx);
  const changes: Change[] = [];
  if (!(await forge.orgExists(org))) changes.push({ action: 'create', target: `gitea org ${org}` });
  const existing = await forge.repo(org, repo);
  const interval = ctx.values.upstream.mirrorInterval;
  if (!existing)
    changes.push({
      action: 'create',
      target: label,
      detail: `pull mirror of ${ctx.values.upstream.repoURL} every ${interval}`,
    });
  else if (!existing.mirror)
    changes.push({ action: 'fail', target: label, detail: 'exists but is not a mirror; Gitea cannot convert it' });
  else {
    if (existing.mirror_interval !== interval)
      changes.push({
        action: 'update',
        target: label,
        detail: `mirror_interval ${existing.mirror_interval} → ${interval}`,
      });
    changes.push({ action: 'sync', target: label, detail: 'mirror-sync from upstream' });
  }
  return changes;
}

async function apply(ctx: Ctx): Promise<void> {
  const { forge } = ctx.env;
  const { org, repo, label } = target(ctx);
  const interval = ctx.values.upstream.mirrorInterval;
  if (
    await journalPeerCreate(ctx.env.journal, giteaMirror.id, PEER_OBJECTS.giteaOrg(org), () => forge.orgExists(org))
  ) {
    await forge.createOrg(org);
    ctx.log(`created org ${org}`);
  }
  const existing = await forge.repo(org, repo);
  if (!existing) {
    await ctx.env.journal.record(giteaMirror.id, [{ op: 'create', object: PEER_OBJECTS.giteaRepo(org, repo) }]);
    ctx.log(`migrating ${ctx.values.upstream.repoURL} → ${label} as a pull mirror (every ${interval})`);
    const outcome = await forge
      .migrateMirror(
        { cloneAddr: ctx.values.upstream.repoURL, owner: org, name: repo, interval, auth: ctx.env.upstreamGit },
        MIGRATE_CLIENT_TIMEOUT_MS,
      )
      .catch((error: unknown) => {
        if (error instanceof PeerError && error.status === 422 && /Authentication failed/i.test(error.body))
          throw new CutoverError(
            'upstream-auth-failed',
            ctx.env.upstreamGit
              ? `${ctx.values.upstream.repoURL} refused the credential of upstream.credentialsSecretRef`
              : `${ctx.values.upstream.repoURL} asks for a credential: a private repository needs upstream.credentialsSecretRef`,
            { cause: error },
          );
        throw error;
      });
    if (outcome === 'timed-out')
      ctx.log('migration still cloning after the client timeout; waiting for the mirror to fill');
    return;
  }
  if (!existing.mirror) {
    throw new CutoverError(
      'not-a-mirror',
      `${label} exists but is not a pull mirror; Gitea cannot turn a regular repository into a mirror. Rename or delete it, then run the cutover again.`,
    );
  }
  // A mirror of another remote would never reach upstream's head: say so now, not at the deadline.
  // Gitea's API cannot change a pull mirror's remote, and deleting one Flux may read is not ours to do.
  if (!sameRepoURL(existing.original_url, ctx.values.upstream.repoURL))
    throw new CutoverError(
      'mirror-remote-mismatch',
      `${label} mirrors ${existing.original_url}, not upstream.repoURL ${ctx.values.upstream.repoURL}; Gitea cannot change a pull mirror's remote. Delete the repository (it holds only mirrored history) or set gitea.repo to a new name, then run the cutover again.`,
    );
  if (existing.mirror_interval !== interval) await forge.setMirrorInterval(org, repo, interval);
  await forge.mirrorSync(org, repo);
  ctx.log(`${label}: mirror_interval ${interval}, sync requested`);
}

/** Polls (mirror sync is asynchronous) until the mirror holds upstream's head, or the step deadline. */
async function verify(ctx: Ctx): Promise<void> {
  const { forge } = ctx.env;
  const { org, repo, label } = target(ctx);
  const branch = ctx.values.upstream.branch;
  const upstreamHead = (await remoteRefs(ctx.values.upstream.repoURL, undefined, ctx.env.upstreamGit)).get(
    `refs/heads/${branch}`,
  );
  if (!upstreamHead)
    throw new CutoverError(
      'upstream-branch-missing',
      `upstream ${ctx.values.upstream.repoURL} has no branch ${branch}`,
    );
  await pollUntil(
    async (): Promise<{ head?: string | undefined; last: string }> => {
      const current = await forge.repo(org, repo);
      if (!current) return { last: 'not created yet' };
      if (!current.mirror) throw new CutoverError('not-a-mirror', `${label} is not a mirror`);
      if (current.empty) return { last: 'mirror still empty' };
      const head = await forge.branchHead(org, repo, branch);
      return { head, last: `${branch} at ${head ?? 'missing'}, upstream at ${upstreamHead}` };
    },
    (s) => s.head === upstreamHead,
    {
      signal: ctx.signal,
      interval: doubling(500, 5000),
      code: 'mirror-behind',
      message: (s) => `${label} never caught up with upstream (${s.last})`,
    },
  );
  ctx.log(`${label} ${branch} at ${upstreamHead.slice(0, 12)}, same as upstream`);
}

export const giteaMirror: Step<StepEnv> = {
  id: 'gitea-mirror',
  timeoutKey: 'giteaMirrorSeconds',
  plan,
  apply,
  verify,
};

/**
 * One look at the mirror's head and upstream's, for the mirror health the serving process keeps after
 * the cutover (ADR 0016). Never throws: what could not be read is the observation's `error`.
 */
export async function observeMirror(
  values: Values,
  forge: Forge,
  upstreamGit?: { username: string; password: string },
): Promise<MirrorObservation> {
  const at = new Date();
  const { org, repo } = values.gitea;
  const branch = values.upstream.branch;
  const errors: string[] = [];
  const [head, upstreamHead] = await Promise.all([
    forge.branchHead(org, repo, branch).then(
      (h) => h ?? (errors.push(`gitea repo ${org}/${repo} has no branch ${branch}`), undefined),
      (error: unknown) => (errors.push(`gitea: ${messageOf(error)}`), undefined),
    ),
    remoteRefs(values.upstream.repoURL, 15_000, upstreamGit).then(
      (refs) => refs.get(`refs/heads/${branch}`) ?? (errors.push(`upstream has no branch ${branch}`), undefined),
      (error: unknown) => (errors.push(`upstream: ${messageOf(error)}`), undefined),
    ),
  ]);
  return { at, head, upstreamHead, ...(errors.length ? { error: redact(errors.join('; ')) } : {}) };
}

const messageOf = (error: unknown): string => (error instanceof Error ? error.message : String(error));
