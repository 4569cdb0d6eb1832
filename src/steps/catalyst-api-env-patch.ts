// 07 catalyst-api-env-patch: the configured Deployment's env var names the Sovereign's Gitea
// repo, durably when a Kustomization applies it (durable-pivot.ts); wait for the rollout, read the
// value back. (In-cluster, this rolls the engine's own
// Deployment: the engine resumes on restart.)
import type { V1Deployment } from '@kubernetes/client-node';
import { patchDeployment, readDeployment, waitRollout } from '../adapters/kube/workloads.ts';
import { CutoverError } from '../core/errors.ts';
import type { Change, Step, StepContext } from '../core/step.ts';
import type { StepEnv } from './env.ts';
import { durabilityText, missing, pivotDurably, placementOf, type Pivot } from './durable-pivot.ts';
import { localRepoURL } from './flux-gitrepository-patch.ts';

type Ctx = StepContext<StepEnv>;

function read(ctx: Ctx): Promise<V1Deployment> {
  const { namespace, deploymentName: name } = ctx.values.catalystAPI;
  return readDeployment(ctx.env.cluster, namespace, name);
}

/** The containers that carry the variable; when none does, the one named like the Deployment (else the first). */
function targets(ctx: Ctx, d: V1Deployment): string[] {
  const containers = d.spec?.template.spec?.containers ?? [];
  const withVar = containers
    .filter((c) => c.env?.some((v) => v.name === ctx.values.catalystAPI.envVar))
    .map((c) => c.name);
  if (withVar.length) return withVar;
  const named = containers.find((c) => c.name === ctx.values.catalystAPI.deploymentName) ?? containers[0];
  return named ? [named.name] : [];
}

function stale(ctx: Ctx, d: V1Deployment): string[] {
  const want = localRepoURL(ctx);
  return targets(ctx, d).filter(
    (name) =>
      d.spec?.template.spec?.containers
        .find((c) => c.name === name)
        ?.env?.find((v) => v.name === ctx.values.catalystAPI.envVar)?.value !== want,
  );
}

/** The env var on every target container, as a strategic merge (containers and env merge by name). */
function pivotOf(ctx: Ctx, d: V1Deployment): Pivot {
  const { namespace, deploymentName: name, envVar } = ctx.values.catalystAPI;
  const value = localRepoURL(ctx);
  const containers = targets(ctx, d);
  return {
    object: { apiVersion: 'apps/v1', kind: 'Deployment', namespace, name, labels: d.metadata?.labels },
    fields: {
      spec: {
        template: { spec: { containers: containers.map((c) => ({ name: c, env: [{ name: envVar, value }] })) } },
      },
    },
    live: async () => {
      // A valueFrom the variable had is dropped: the value is the pivot.
      await patchDeployment(ctx.env.cluster, namespace, name, {
        spec: {
          template: {
            spec: { containers: containers.map((c) => ({ name: c, env: [{ name: envVar, value, valueFrom: null }] })) },
          },
        },
      });
    },
    applied: async () => !stale(ctx, await read(ctx)).length,
  };
}

async function plan(ctx: Ctx): Promise<Change[]> {
  const d = await read(ctx);
  const placement = await placementOf(ctx.env.cluster, pivotOf(ctx, d).object);
  return stale(ctx, d).map((c) => ({
    action: 'set',
    target: `Deployment ${d.metadata?.namespace}/${d.metadata?.name} container ${c}`,
    detail: `${ctx.values.catalystAPI.envVar}=${localRepoURL(ctx)} (${durabilityText(placement)})`,
  }));
}

async function apply(ctx: Ctx): Promise<void> {
  const d = await read(ctx);
  await pivotDurably(ctx.env, catalystApiEnvPatch.id, [pivotOf(ctx, d)], ctx.signal, ctx.log);
  const { namespace, deploymentName: name, envVar } = ctx.values.catalystAPI;
  ctx.log(`Deployment ${namespace}/${name}: ${envVar}=${localRepoURL(ctx)} on ${targets(ctx, d).join(', ')}`);
}

async function verify(ctx: Ctx): Promise<void> {
  const current = await read(ctx);
  const left = stale(ctx, current);
  if (left.length)
    throw new CutoverError(
      'not-pivoted',
      `${ctx.values.catalystAPI.envVar} is not ${localRepoURL(ctx)} on ${left.join(', ')}`,
    );
  const { namespace, deploymentName } = ctx.values.catalystAPI;
  const d = await waitRollout(ctx.env.cluster, namespace, deploymentName, ctx.signal);
  ctx.log(`Deployment ${d.metadata?.namespace}/${d.metadata?.name} rolled out with the local repo`);
}

export const catalystApiEnvPatch: Step<StepEnv> = {
  id: 'catalyst-api-env-patch',
  timeoutKey: 'catalystAPIEnvPatchSeconds',
  plan,
  apply,
  verify,
  // A Flux re-apply, a revert or a lost spec.patches entry shows here.
  drift: async (ctx) => missing(ctx.env.cluster, catalystApiEnvPatch.id, [pivotOf(ctx, await read(ctx))]),
};
