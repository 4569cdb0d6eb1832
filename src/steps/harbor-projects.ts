// 02 harbor-projects: one local Harbor project per upstream host. Mirror mode → a push-mode
// project the cutover fills; proxy mode → a registry endpoint (with the upstream credential where
// authMode is `credential`) and a proxy-cache project on it. 201 and 409 both mean "there".
import { PEER_OBJECTS } from '../core/journal.ts';
import { CutoverError } from '../core/errors.ts';
import type { Change, Step, StepContext } from '../core/step.ts';
import type { HostProject } from '../core/values.ts';
import type { StepEnv } from './env.ts';

type Ctx = StepContext<StepEnv>;

const endpointName = (row: HostProject): string => `${row.project}-upstream`;

async function plan(ctx: Ctx): Promise<Change[]> {
  const changes: Change[] = [];
  for (const row of ctx.values.harbor.hostProjects) {
    const project = await ctx.env.harbor.project(row.project);
    const adopted = row.mode === 'proxy' && Boolean(project?.registry_id);
    if (row.mode === 'proxy' && !adopted && !(await ctx.env.harbor.registryByName(endpointName(row)))) {
      changes.push({
        action: 'create',
        target: `harbor registry endpoint ${endpointName(row)}`,
        detail: `${row.registryType} ${row.upstreamURL}`,
      });
    }
    if (!project)
      changes.push({
        action: 'create',
        target: `harbor project ${row.project}`,
        detail: row.mode === 'mirror' ? `push-mode mirror of ${row.host}` : `proxy cache of ${row.host}`,
      });
  }
  return changes;
}

async function apply(ctx: Ctx): Promise<void> {
  const { harbor, upstreamAuths } = ctx.env;
  // Journaled before they are made: a purging rollback deletes only the projects the cutover created.
  const absent = [];
  for (const row of ctx.values.harbor.hostProjects) if (!(await harbor.project(row.project))) absent.push(row.project);
  await ctx.env.journal.record(
    harborProjects.id,
    absent.map((name) => ({ op: 'create' as const, object: PEER_OBJECTS.harborProject(name) })),
  );
  for (const row of ctx.values.harbor.hostProjects) {
    if (row.mode === 'mirror') {
      ctx.log(`project ${row.project} (mirror of ${row.host}): ${await harbor.createProject(row.project)}`);
      continue;
    }
    // A proxy cache that is there already (the original chart made it, on an endpoint of its own name) is
    // adopted as it is: a second endpoint would serve nothing.
    const existing = await harbor.project(row.project);
    if (existing?.registry_id) {
      // Only a cache of the same upstream: one of another registry would serve its images under these names.
      const endpoint = await harbor.registry(existing.registry_id);
      const same = (url: string | undefined) => (url ?? '').replace(/\/+$/, '');
      if (same(endpoint?.url) !== same(row.upstreamURL))
        throw new CutoverError(
          'harbor-projects',
          `project ${row.project} is already a proxy cache of ${endpoint?.url ?? `registry ${existing.registry_id}`}, not of ${row.upstreamURL}: rename the project in the host table, or remove it from Harbor`,
        );
      ctx.log(
        `project ${row.project}: a proxy cache of ${row.upstreamURL} already (registry ${existing.registry_id}); adopted`,
      );
      continue;
    }
    const credential = row.authMode === 'credential' ? upstreamAuths.get(row.host) : undefined;
    if (row.authMode === 'credential' && !credential) {
      throw new CutoverError(
        'missing-credential',
        `harbor.proxyProjects ${row.project} wants a credential for ${row.host}, but ${ctx.values.harbor.ghcrSecretRef.namespace}/${ctx.values.harbor.ghcrSecretRef.name} has no auth for that host`,
      );
    }
    await harbor.createRegistry({
      name: endpointName(row),
      type: row.registryType,
      url: row.upstreamURL,
      ...(credential ? { credential } : {}),
    });
    const endpoint = await harbor.registryByName(endpointName(row));
    if (!endpoint)
      throw new CutoverError(
        'registry-missing',
        `Harbor has no registry endpoint ${endpointName(row)} right after creating it`,
      );
    ctx.log(
      `project ${row.project} (proxy cache of ${row.host} via endpoint ${endpoint.id}): ${await harbor.createProject(row.project, endpoint.id)}`,
    );
  }
}

async function verify(ctx: Ctx): Promise<void> {
  const problems: string[] = [];
  for (const row of ctx.values.harbor.hostProjects) {
    const project = await ctx.env.harbor.project(row.project);
    if (!project) problems.push(`project ${row.project} is missing`);
    else if (row.mode === 'mirror' && project.registry_id)
      problems.push(
        `project ${row.project} is a proxy cache (registry ${project.registry_id}) but ${row.host} is in mirror mode: it cannot be pushed to`,
      );
    else if (row.mode === 'proxy' && !project.registry_id)
      problems.push(`project ${row.project} is a push project but ${row.host} is in proxy mode`);
    else if (project.metadata?.public !== 'true')
      problems.push(`project ${row.project} is private; nodes pull anonymously`);
  }
  if (problems.length) throw new CutoverError('harbor-projects', problems.join('; '));
}

export const harborProjects: Step<StepEnv> = {
  id: 'harbor-projects',
  timeoutKey: 'harborProjectsSeconds',
  plan,
  apply,
  verify,
};
