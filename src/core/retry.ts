// Retrying what a peer may fail for a moment: 5xx, 429, resets, timeouts (`isTransient`, the one
// rule). Anything else is a verdict and fails at once.
import { isTransient } from './errors.ts';

/** Attempts per request unless a caller says otherwise: ≈ 6 s of backoff in all. */
export const DEFAULT_ATTEMPTS = 6;

export interface RetryOptions {
  /** Attempts in all, the first included. */
  attempts: number;
  signal?: AbortSignal | undefined;
  log?: ((line: string) => void) | undefined;
  /** Called before each retry (for counters). */
  onRetry?: (() => void) | undefined;
}

/** Runs `work`, retrying transient failures with exponential backoff and jitter; stops on abort. */
export async function withRetries<T>(what: string, work: () => Promise<T>, o: RetryOptions): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    o.signal?.throwIfAborted();
    try {
      return await work();
    } catch (error) {
      if (!isTransient(error) || attempt >= o.attempts) throw error;
      o.onRetry?.();
      const delay = Math.min(5_000, 100 * 2 ** attempt) * (0.5 + Math.random());
      o.log?.(
        `retrying ${what} in ${Math.round(delay)} ms (attempt ${attempt}/${o.attempts}): ${error instanceof Error ? error.message : String(error)}`,
      );
      await new Promise((resolve) => setTimeout(resolve, delay));
    }
  }
}
