// Bounds on what one signed-in identity can make this process do: requests per window on the
// expensive reads, and open event streams at once. Per replica: a client spread over replicas gets
// each replica's share, which still bounds the load on the cluster behind them.
import { CutoverError } from '../core/errors.ts';

/** Refused for now; `retryAfterSeconds` goes out as Retry-After. */
export class RateLimited extends CutoverError {
  readonly retryAfterSeconds: number;
  constructor(detail: string, retryAfterSeconds: number) {
    super('rate-limited', detail);
    this.retryAfterSeconds = retryAfterSeconds;
  }
}

/** At most `limit` requests per key in each fixed window of `windowMs`. */
export class RateLimit {
  readonly #windows = new Map<string, { start: number; count: number }>();
  readonly limit: number;
  readonly windowMs: number;

  constructor(limit: number, windowMs: number) {
    this.limit = limit;
    this.windowMs = windowMs;
  }

  /** Counts one request for `key`, or throws RateLimited when its window is full. */
  take(key: string, what: string): void {
    const now = Date.now();
    if (this.#windows.size > 10_000)
      for (const [k, w] of this.#windows) if (now - w.start >= this.windowMs) this.#windows.delete(k);
    const w = this.#windows.get(key);
    if (!w || now - w.start >= this.windowMs) {
      this.#windows.set(key, { start: now, count: 1 });
      return;
    }
    if (w.count >= this.limit) {
      const wait = Math.ceil((w.start + this.windowMs - now) / 1000);
      throw new RateLimited(
        `${what}: at most ${this.limit} per ${this.windowMs / 1000} s; try again in ${wait} s`,
        wait,
      );
    }
    w.count++;
  }
}

/** How many of something (event streams) a key holds open at once, within a per-key and a total bound. */
export class OpenCount {
  readonly #open = new Map<string, number>();
  #total = 0;
  readonly perKey: number;
  readonly total: number;

  constructor(perKey: number, total: number) {
    this.perKey = perKey;
    this.total = total;
  }

  /** Takes one for `key` and returns its release (idempotent), or throws RateLimited when either bound is full. */
  open(key: string, what: string): () => void {
    const held = this.#open.get(key) ?? 0;
    if (held >= this.perKey) throw new RateLimited(`${what}: at most ${this.perKey} open per session`, 5);
    if (this.#total >= this.total) throw new RateLimited(`${what}: this replica serves ${this.total} at most`, 5);
    this.#open.set(key, held + 1);
    this.#total++;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.#total--;
      const left = (this.#open.get(key) ?? 1) - 1;
      if (left > 0) this.#open.set(key, left);
      else this.#open.delete(key);
    };
  }
}
