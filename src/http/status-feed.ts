// The live feed behind SSE and metrics: one poll of the status ConfigMap per process, turned into
// the seed's event phases by comparing each read with the last. Level-triggered — every replica
// tells the same story whichever replica (or CLI) runs the engine — and a restart loses nothing
// the ConfigMap does not hold.
import { EventEmitter } from 'node:events';
import { stepResult } from '../core/status.ts';
import { STEP_IDS, type StatusData } from '../core/contracts.ts';
import type { StatusStore } from '../adapters/kube/status-store.ts';
import type { RunPhase } from '../core/contracts.ts';

/** One SSE frame's data, as the original's (`{time, phase, level, message, step?, jobName?}`). */
export interface FeedEvent {
  time: string;
  phase: RunPhase;
  level: 'info' | 'warn' | 'error';
  message: string;
  step?: string;
  jobName?: string;
}

export const TERMINAL: ReadonlySet<RunPhase> = new Set(['cutover-completed', 'cutover-step-failed']);
const REPLAY = 256;

/** What changed between two reads of the status, as events (pure). */
export function eventsBetween(before: StatusData, after: StatusData, time: string): FeedEvent[] {
  const events: FeedEvent[] = [];
  if (after.cutoverLastAttemptStartedAt && after.cutoverLastAttemptStartedAt !== before.cutoverLastAttemptStartedAt) {
    events.push({
      time,
      phase: 'cutover-started',
      level: 'info',
      message: `cutover started (${after.totalSteps ?? STEP_IDS.length} steps)`,
    });
  }
  for (const step of STEP_IDS) {
    const was = stepResult(before, step);
    const is = stepResult(after, step);
    if (was === is) continue;
    const jobName = after[`step.${step}.jobName`] || undefined;
    const base = { time, step, ...(jobName ? { jobName } : {}) };
    if (is === 'running')
      events.push({ ...base, phase: 'cutover-step-started', level: 'info', message: `${step} started` });
    if (is === 'success')
      events.push({ ...base, phase: 'cutover-step-finished', level: 'info', message: `${step} succeeded` });
    if (is === 'failed')
      events.push({
        ...base,
        phase: 'cutover-step-failed',
        level: 'error',
        message: after.lastError || `${step} failed`,
      });
  }
  // Long steps report progress (prewarm: artifacts and bytes) in `step.<name>.progress`.
  for (const step of STEP_IDS) {
    const key = `step.${step}.progress`;
    if (after[key] && after[key] !== before[key])
      events.push({ time, phase: 'cutover-step-progress', level: 'info', message: after[key] as string, step });
  }
  if (after.cutoverComplete === 'true' && before.cutoverComplete !== 'true') {
    events.push({
      time,
      phase: 'cutover-completed',
      level: 'info',
      message: 'cutover complete: the Sovereign is sovereign',
    });
  }
  return events;
}

export class StatusFeed extends EventEmitter<{ event: [FeedEvent] }> {
  readonly #store: Pick<StatusStore, 'read'>;
  readonly #intervalMs: number;
  #last: StatusData | undefined;
  #replay: FeedEvent[] = [];
  #timer: NodeJS.Timeout | undefined;
  #error: string | undefined;

  /** `store`: only read from (a plain reader in the unit tests). */
  constructor(store: Pick<StatusStore, 'read'>, intervalMs = 1000) {
    super();
    this.setMaxListeners(0);
    this.#store = store;
    this.#intervalMs = intervalMs;
  }

  /** The last status read (undefined before the first). */
  get snapshot(): StatusData | undefined {
    return this.#last;
  }

  /** Why the last read failed, if it did. */
  get error(): string | undefined {
    return this.#error;
  }

  /** The events of the current run so far (a new run starts a new replay). */
  get replay(): readonly FeedEvent[] {
    return this.#replay;
  }

  async start(): Promise<void> {
    await this.poll();
    this.#timer = setInterval(() => void this.poll(), this.#intervalMs);
    this.#timer.unref();
  }

  stop(): void {
    clearInterval(this.#timer);
  }

  /** Reads the status once and publishes what changed. */
  async poll(): Promise<StatusData | undefined> {
    let data: StatusData;
    try {
      data = (await this.#store.read()) ?? {};
      this.#error = undefined;
    } catch (error) {
      this.#error = error instanceof Error ? error.message : String(error);
      return this.#last;
    }
    const before = this.#last;
    this.#last = data;
    if (before) for (const event of eventsBetween(before, data, new Date().toISOString())) this.publish(event);
    return data;
  }

  /** Publishes an event to live subscribers and the replay buffer (capped; cleared by a new run). */
  publish(event: FeedEvent): void {
    if (event.phase === 'cutover-started') this.#replay = [];
    this.#replay.push(event);
    if (this.#replay.length > REPLAY) this.#replay.shift();
    this.emit('event', event);
  }
}
