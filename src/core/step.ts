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
  /**
   * What no longer holds of what this step established, read from the Sovereign alone (no upstream):
   * empty while it holds. A rerun calls it for every step already `success` and runs a drifted step
   * again (Flux re-applying an upstream URL from Git is the drift this exists for). Steps without it
   * establish nothing a later change can undo from inside the cluster (a mirror, copied artifacts, a proof).
   */
  drift?(ctx: StepContext<Env>): Promise<Change[]>;
  /**
   * What must hold before this step may change anything, whatever ran before it (the node pivot:
   * every artifact in the local Harbor by digest). The engine checks it before the step's first
   * write; a failure fails the step with nothing changed.
   */
  precondition?(ctx: StepContext<Env>): Promise<void>;
  /** Removes what a killed run of this step may have left behind (the engine calls it on start). */
  reap?(ctx: StepContext<Env>): Promise<void>;
}
