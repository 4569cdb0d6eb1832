// Bounded concurrency: one counting semaphore, and "each item, at most n at once, stop at the
// first failure" built on it. No I/O of its own.

/** A counting semaphore; among waiting work, the highest priority goes first (equal: first come). */
export class Limit {
  #free: number;
  readonly #waiting: Array<{ priority: number; go: () => void }> = [];

  constructor(n: number) {
    this.#free = Math.max(1, n);
  }

  async run<T>(work: () => Promise<T>, priority = 0): Promise<T> {
    if (this.#free > 0) this.#free--;
    else
      await new Promise<void>((go) => {
        const at = this.#waiting.findIndex((w) => w.priority < priority);
        this.#waiting.splice(at < 0 ? this.#waiting.length : at, 0, { priority, go });
      });
    try {
      return await work();
    } finally {
      const next = this.#waiting.shift();
      if (next) next.go();
      else this.#free++;
    }
  }
}

/**
 * Runs `work` for every item, at most `concurrency` at once, in order. After the first failure no
 * further item starts; the work already running is let finish (nothing outlives the call), then
 * the first failure is thrown.
 */
export async function forEachLimited<T>(
  items: readonly T[],
  concurrency: number,
  work: (item: T, index: number) => Promise<void>,
): Promise<void> {
  const limit = new Limit(concurrency);
  let failure: { error: unknown } | undefined;
  await Promise.all(
    items.map((item, index) =>
      limit.run(async () => {
        if (failure) return; // a failed run stops taking work
        try {
          await work(item, index);
        } catch (error) {
          failure ??= { error };
        }
      }),
    ),
  );
  if (failure) throw failure.error;
}
