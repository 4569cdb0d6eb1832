// The local executor: a step's apply + verify run in this process (the CLI's default). What must
// run on nodes (the agent DaemonSet, canary pods) the steps still create in the cluster.
import type { Step, StepContext } from '../core/step.ts';
import type { Executor } from './engine.ts';

/** How long a step that was told to stop (deadline, SIGTERM, lost Lease) gets to clean up (its `finally`: the egress hold). */
export const CLEANUP_GRACE_MS = 30_000;

export class LocalExecutor<Env> implements Executor<Env> {
  readonly name = 'local';

  async execute(step: Step<Env>, ctx: StepContext<Env>): Promise<{ jobName: string }> {
    const work = (async () => {
      await step.apply(ctx);
      await step.verify(ctx);
    })();
    // The deadline wins over a step that hangs on a peer; the step sees the same signal…
    try {
      await Promise.race([
        work,
        new Promise<never>((_, reject) => {
          if (ctx.signal.aborted) reject(ctx.signal.reason);
          ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason), { once: true });
        }),
      ]);
    } catch (error) {
      // …and is given a bounded moment to run its cleanup before the caller (maybe a process about to exit) goes on.
      if (ctx.signal.aborted)
        await Promise.race([work.catch(() => undefined), new Promise((r) => setTimeout(r, CLEANUP_GRACE_MS).unref())]);
      throw error;
    }
    return { jobName: '' };
  }
}
