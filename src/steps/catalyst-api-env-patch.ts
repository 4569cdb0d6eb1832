// 07 catalyst-api-env-patch: the configured Deployment's env var names the Sovereign's Gitea
// repo; wait for the rollout, read the value back. (In-cluster, this rolls the engine's own
// Deployment: the engine resumes on restart.)
import { setTimeout as sleep } from 'node:timers/promises';
import type { V1Deployment } from '@kubernetes/client-node';
import { PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import { kubeError } from '../adapters/kube/cluster.ts';
import { CutoverError } from '../core/errors.ts';
import type { Change, Step, StepContext } from '../core/step.ts';
import type { StepEnv } from './env.ts';
import { localRepoURL } from './flux-gitrepository-patch.ts';

type Ctx = StepContext<StepEnv>;
const strategicMerge = setHeaderOptions('Content-Type', PatchStrategy.StrategicMergePatch);

async function read(ctx: Ctx): Promise<V1Deployment> {
  const { namespace, deploymentName: name } = ctx.values.catalystAPI;
  try {
    return await ctx.env.cluster.apps.readNamespacedDeployment({ name, namespace });
  } catch (error) {
    throw kubeError('GET', `deployments/${namespace}/${name}`, error);
  }
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

async function plan(ctx: Ctx): Promise<Change[]> {
  const d = await read(ctx);
  return stale(ctx, d).map((c) => ({
    action: 'set',
    target: `Deployment ${d.metadata?.namespace}/${d.metadata?.name} container ${c}`,
    detail: `${ctx.values.catalystAPI.envVar}=${localRepoURL(ctx)}`,
  }));
}

async function apply(ctx: Ctx): Promise<void> {
  const d = await read(ctx);
  const containers = stale(ctx, d);
  if (!containers.length) return;
  const { namespace, deploymentName: name, envVar } = ctx.values.catalystAPI;
  const value = localRepoURL(ctx);
  try {
    // Strategic merge keys containers and env by name: other variables and containers stay as they are.
    await ctx.env.cluster.apps.patchNamespacedDeployment(
      {
        name,
        namespace,
        body: {
          spec: {
            template: {
              spec: {
                containers: containers.map((c) => ({ name: c, env: [{ name: envVar, value, valueFrom: null }] })),
              },
            },
          },
        },
      },
      strategicMerge,
    );
  } catch (error) {
    throw kubeError('PATCH', `deployments/${namespace}/${name}`, error);
  }
  ctx.log(`Deployment ${namespace}/${name}: ${envVar}=${value} on ${containers.join(', ')}`);
}

function rolledOut(d: V1Deployment): boolean {
  const want = d.spec?.replicas ?? 1;
  const s = d.status;
  return (
    (s?.observedGeneration ?? 0) >= (d.metadata?.generation ?? 0) &&
    (s?.updatedReplicas ?? 0) === want &&
    (s?.availableReplicas ?? 0) === want &&
    (s?.replicas ?? 0) === want
  );
}

async function verify(ctx: Ctx): Promise<void> {
  let d = await read(ctx);
  const left = stale(ctx, d);
  if (left.length)
    throw new CutoverError(
      'not-pivoted',
      `${ctx.values.catalystAPI.envVar} is not ${localRepoURL(ctx)} on ${left.join(', ')}`,
    );
  for (let delay = 500; !rolledOut(d); delay = Math.min(delay * 2, 5000)) {
    if (ctx.signal.aborted)
      throw new CutoverError(
        'rollout-stuck',
        `Deployment ${d.metadata?.namespace}/${d.metadata?.name} did not finish rolling out (${d.status?.updatedReplicas ?? 0}/${d.spec?.replicas ?? 1} updated, ${d.status?.availableReplicas ?? 0} available)`,
      );
    await sleep(delay, undefined, { signal: ctx.signal }).catch(() => undefined);
    d = await read(ctx);
  }
  ctx.log(`Deployment ${d.metadata?.namespace}/${d.metadata?.name} rolled out with the local repo`);
}

export const catalystApiEnvPatch: Step<StepEnv> = {
  id: 'catalyst-api-env-patch',
  timeoutKey: 'catalystAPIEnvPatchSeconds',
  plan,
  apply,
  verify,
};
