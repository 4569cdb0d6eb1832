// The chain in seed order. Only steps this build implements are here; the engine refuses to call
// the cutover complete unless all eight ran (STEP_IDS).
import type { Step } from '../core/step.ts';
import type { StepEnv } from './env.ts';
import { giteaMirror } from './gitea-mirror.ts';
import { harborPrewarm } from './harbor-prewarm.ts';
import { harborProjects } from './harbor-projects.ts';

export const CHAIN: Step<StepEnv>[] = [giteaMirror, harborProjects, harborPrewarm];
