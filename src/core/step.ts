// The step model. Every step is level-triggered and idempotent: `plan` reads and lists what it
// would change (no writes), `apply` converges, `verify` reads back and throws if the world is not
// as the step promises. A second apply on a converged world changes nothing.
import type { StepId } from './contracts.ts';
import type { StepTimeoutKey, Values } from './values.ts';

export interface Change {
  /** What would happen: create, update, copy, sync, flip… */
  action: string;
  /** The object it happens to, e.g. `gitea repo openova/openova`. */
  target: string;
  detail?: string;
}

export interface StepContext<Env> {
  values: Values;
  env: Env;
  log: (line: string) => void;
  signal: AbortSignal;
}

export interface Step<Env> {
  id: StepId;
  timeoutKey: StepTimeoutKey;
  plan(ctx: StepContext<Env>): Promise<Change[]>;
  apply(ctx: StepContext<Env>): Promise<void>;
  verify(ctx: StepContext<Env>): Promise<void>;
  /** Removes what a killed run of this step may have left behind (the engine calls it on start). */
  reap?(ctx: StepContext<Env>): Promise<void>;
}
