// The one poll helper: look, decide, pause, look again — until the answer is yes or the signal
// (a step deadline, a lost Lease) ends the wait. It does no I/O of its own: the probe does. A wait
// that ends unanswered throws a CutoverError that names the last thing the probe saw, so a stuck
// step explains itself.
import { setTimeout as sleep } from 'node:timers/promises';
import { CutoverError } from './errors.ts';

/** The pause before the next probe, in ms: fixed, or by round (0 = after the first probe). */
export type Interval = number | ((round: number) => number);

/** `first` ms, doubling each round up to `max` ms. */
export function doubling(first: number, max: number): (round: number) => number {
  return (round) => Math.min(first * 2 ** round, max);
}

export interface PollOptions<S> {
  signal: AbortSignal;
  /** Pause between probes. */
  interval?: Interval;
  /** Instead of a timed pause: waits for a reason to look again (a watch event), given the last state. */
  wake?: (last: S, signal: AbortSignal) => Promise<void>;
  /** The error code when the signal ends the wait. */
  code: string;
  /** The error message when the signal ends the wait, from the last state the probe saw. */
  message: (last: S) => string;
}

/**
 * Probes until `done` holds for what the probe observed, and returns that. The probe runs at least
 * once; the signal is checked after each unfinished probe and ends the pause early. A probe that
 * throws ends the poll with its error (a verdict the probe reached, or a peer failure).
 */
export async function pollUntil<S>(probe: () => Promise<S>, done: (state: S) => boolean, o: PollOptions<S>): Promise<S>;
/** Probes until the probe returns a value (not undefined), and returns it. */
export async function pollUntil<T>(probe: () => Promise<T | undefined>, o: PollOptions<undefined>): Promise<T>;
export async function pollUntil<S>(
  probe: () => Promise<S>,
  doneOrOptions: ((state: S) => boolean) | PollOptions<S>,
  options?: PollOptions<S>,
): Promise<S> {
  const done = typeof doneOrOptions === 'function' ? doneOrOptions : (state: S) => state !== undefined;
  const o = typeof doneOrOptions === 'function' ? (options as PollOptions<S>) : doneOrOptions;
  for (let round = 0; ; round++) {
    const state = await probe();
    if (done(state)) return state;
    if (o.signal.aborted) throw new CutoverError(o.code, o.message(state), { cause: o.signal.reason });
    if (o.wake) await o.wake(state, o.signal);
    else {
      const interval = o.interval ?? 1000;
      const ms = typeof interval === 'number' ? interval : interval(round);
      await sleep(ms, undefined, { signal: o.signal }).catch(() => undefined);
    }
  }
}
