// The chain in seed order. Only steps this build implements are here; the engine refuses to call
// the cutover complete unless all eight ran (STEP_IDS).
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

export const CHAIN: Step<StepEnv>[] = [
  giteaMirror,
  harborProjects,
  harborPrewarm,
  registryPivot,
  fluxGitRepositoryPatch,
  helmRepositoryPatches,
  catalystApiEnvPatch,
  egressBlockTest,
];
