// The step catalogue: every step id of the contract (core/contracts.ts) mapped to its code. A
// `Record<StepId, …>` so the compiler proves the build has the whole chain; CHAIN is seed order.
import { STEP_IDS, type StepId } from '../core/contracts.ts';
import type { Step } from '../core/step.ts';
import { catalystApiEnvPatch } from './catalyst-api-env-patch.ts';
import { egressBlockTest } from './egress-block-test.ts';
import type { StepEnv } from './env.ts';
import { fluxGitRepositoryPatch } from './flux-gitrepository-patch.ts';
import { giteaMirror } from './gitea-mirror.ts';
import { harborPrewarm } from './harbor-prewarm.ts';
import { harborProjects } from './harbor-projects.ts';
import { helmRepositoryPatches } from './helmrepository-patches.ts';
import { registryPivot } from './registry-pivot.ts';

export const STEPS: Record<StepId, Step<StepEnv>> = {
  'gitea-mirror': giteaMirror,
  'harbor-projects': harborProjects,
  'harbor-prewarm': harborPrewarm,
  'registry-pivot': registryPivot,
  'flux-gitrepository-patch': fluxGitRepositoryPatch,
  'helmrepository-patches': helmRepositoryPatches,
  'catalyst-api-env-patch': catalystApiEnvPatch,
  'egress-block-test': egressBlockTest,
};

export const CHAIN: Step<StepEnv>[] = STEP_IDS.map((id) => STEPS[id]);

/** The step a name (a CLI argument, a step ConfigMap's `stepName`) refers to, if it is one. */
export function stepNamed(name: string): Step<StepEnv> | undefined {
  return (STEP_IDS as readonly string[]).includes(name) ? STEPS[name as StepId] : undefined;
}
