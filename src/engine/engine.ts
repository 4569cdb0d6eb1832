// The cutover engine: runs the chain in order under a single-flight Lease, records every step in
// the status ConfigMap, skips what already succeeded, resumes its own interrupted rows, retries
// transient failures a bounded number of times and stops at the first genuine failure.
import { EventEmitter } from 'node:events';
import { CutoverError, isTransient, redact } from '../core/errors.ts';
import { progressPercent, stepResult } from '../core/status.ts';
import { recheckKey, stepKey, type StatusData } from '../core/contracts.ts';
import type { RunPhase } from '../core/contracts.ts';
import type { Step, StepContext } from '../core/step.ts';
import type { Values } from '../core/values.ts';
import type { SingleFlight } from './single-flight.ts';
import type { StatusStore } from '../adapters/kube/status-store.ts';

/** The engine emits every phase but progress (the status feed derives that from the ConfigMap). */
export type EnginePhase = Exclude<RunPhase, 'cutover-step-progress'>;

export interface EngineEvent {
  phase: EnginePhase;
  step?: string;
  /** `cutover-step-finished` of a step that had already succeeded and still holds (not run again). */
  skipped?: boolean;
  index?: number;
  total?: number;
  error?: string;
  at: string;
}

export interface RunOutcome {
  result: 'completed' | 'already-complete' | 'failed';
  failedStep?: string;
  error?: string;
}

/** How one step is carried out: in this process (local) or as a Job in the cluster (jobs). */
export interface Executor<Env> {
  readonly name: string;
  /** `started`: told the Job's name as soon as it exists (the status names it while it runs). */
  execute(
    step: Step<Env>,
    ctx: StepContext<Env>,
    started?: (jobName: string) => Promise<void>,
  ): Promise<{ jobName: string }>;
}

export interface EngineOptions<Env> {
  values: Values;
  env: Env;
  steps: Step<Env>[];
  store: StatusStore;
  lease: SingleFlight;
  executor: Executor<Env>;
  /** Aborted when the run must stop (SIGTERM, Ctrl-C): the running step stops and cleans up, the run fails with the reason. */
  stop?: AbortSignal;
  log: (line: string) => void;
  /** The whole chain: completion is refused unless every one of these ran. */
  requiredSteps?: readonly string[];
  /** Attempts per step for transient failures (deadline, 5xx, reset). */
  attempts?: number;
  retryDelayMs?: number;
  /**
   * The tethers the inventory still shows that no exemption covers: the cutover is complete only
   * when there are none (otherwise the run fails naming them).
   */
  remainingTethers?: () => Promise<string[]>;
  /** How often the run looks for an operator's abort request in the status (ms). */
  abortPollMs?: number;
}

/** The status keys of an abort: requested (by `cutover abort`, the API, the console), then done by the engine. */
export const ABORT_KEYS = {
  requestedAt: 'abortRequestedAt',
  requestedBy: 'abortRequestedBy',
  at: 'abortedAt',
  by: 'abortedBy',
} as const;

export class Engine<Env> extends EventEmitter<{ event: [EngineEvent] }> {
  readonly #o: EngineOptions<Env>;
  /** The current run's stop: the caller's (SIGTERM) or an operator's abort. */
  #stop: AbortSignal = new AbortController().signal;

  constructor(options: EngineOptions<Env>) {
    super();
    this.#o = options;
  }

  #emit(phase: EnginePhase, fields: Omit<EngineEvent, 'phase' | 'at'> = {}): void {
    this.emit('event', { phase, at: new Date().toISOString(), ...fields });
  }

  /**
   * Runs the chain. `guard`: a periodic re-verification of a complete cutover — when nothing
   * drifted it writes and announces nothing (the status would change every period otherwise).
   */
  async run(options: { guard?: boolean } = {}): Promise<RunOutcome> {
    const { store, lease, log } = this.#o;
    await lease.acquire();
    // An operator's abort (a status request: it reaches an engine in any process) stops the run like SIGTERM.
    const aborted = new AbortController();
    this.#stop = AbortSignal.any([aborted.signal, ...(this.#o.stop ? [this.#o.stop] : [])]);
    const startedAt = new Date().toISOString();
    const watcher = setInterval(() => void this.#lookForAbort(startedAt, aborted), this.#o.abortPollMs ?? 2000);
    watcher.unref();
    try {
      const outcome = await this.#chain(options, startedAt);
      if (outcome.result === 'failed' && aborted.signal.aborted) {
        const { by, at } = aborted.signal.reason as { by: string; at: string };
        await store.patch({ [ABORT_KEYS.at]: at, [ABORT_KEYS.by]: by, currentStep: '' });
        log(`aborted by ${by}: stopped at ${outcome.failedStep ?? 'a step boundary'}`);
      }
      return outcome;
    } finally {
      clearInterval(watcher);
      await lease.release();
    }
  }

  /** Aborts the run when the status carries an abort request made after it started. */
  async #lookForAbort(startedAt: string, aborted: AbortController): Promise<void> {
    if (aborted.signal.aborted) return;
    const data = await this.#o.store.read().catch(() => undefined);
    const at = data?.[ABORT_KEYS.requestedAt];
    if (!at || at < startedAt) return;
    const by = data[ABORT_KEYS.requestedBy] || 'an operator';
    aborted.abort(Object.assign(new CutoverError('aborted', `aborted by ${by} at ${at}`), { by, at }));
  }

  async #chain(options: { guard?: boolean }, now: string): Promise<RunOutcome> {
    const { store, steps, log } = this.#o;
    let status = await store.ensure();
    // A partial install cannot complete: refused before any step runs (jobs mode runs the steps its ConfigMaps declare).
    const present = new Set(steps.map((s) => s.id as string));
    const absent = (this.#o.requiredSteps ?? []).filter((id) => !present.has(id));
    if (absent.length) {
      const error = `the chain lacks step(s) ${absent.join(', ')}: no step ConfigMap declares them, so the cutover cannot complete; nothing was run`;
      await store.patch({ failedStep: absent[0] ?? '', lastError: error, currentStep: '' });
      return { result: 'failed', failedStep: absent[0] ?? '', error };
    }
    // A rerun never trusts `success` blindly: what a step established may have been undone since.
    const { drifted, record } = await this.#recheck(status);
    if (status.cutoverComplete === 'true' && !drifted.length) {
      if (options.guard) return { result: 'already-complete' };
      if (Object.keys(record).length) await store.patch(record);
      this.#emit('cutover-already-complete');
      return { result: 'already-complete' };
    }
    // We hold the lease, so nothing else runs: whatever a killed step left behind (an egress hold) goes now.
    for (const step of steps) {
      if (step.reap)
        await step.reap({
          values: this.#o.values,
          env: this.#o.env,
          log: (line) => log(`  ${step.id}: ${line}`),
          signal: AbortSignal.timeout(60_000),
        });
    }
    // …and any `running` row is ours from an engine that died: run it again.
    // A drifted step runs again like one that never finished.
    const stale = Object.fromEntries(
      steps
        .filter((s) => stepResult(status, s.id) === 'running' || drifted.includes(s.id))
        .map((s) => [stepKey(s.id, 'result'), '']),
    );
    // An abort request from before this run is history: this run starts un-aborted.
    const requested = status[ABORT_KEYS.requestedAt];
    const oldAbort = requested !== undefined && requested !== '' && requested < now;
    status = await store.patch({
      ...record,
      ...stale,
      ...(status.cutoverStartedAt ? {} : { cutoverStartedAt: now }),
      ...(oldAbort ? { [ABORT_KEYS.requestedAt]: '', [ABORT_KEYS.requestedBy]: '' } : {}),
      cutoverLastAttemptStartedAt: now,
      failedStep: '',
      lastError: '',
      totalSteps: String(steps.length),
      // Said in status, not only in logs: hosts whose TLS verification this run skips.
      tlsUnverifiedHosts: this.#o.values.tls.hosts
        .filter((h) => h.insecureSkipVerify)
        .map((h) => h.host)
        .join(','),
    });
    this.#emit('cutover-started', { total: steps.length });
    for (const [index, step] of steps.entries()) {
      if (this.#stop.aborted) {
        const error = redact(describeError(this.#stop.reason));
        await store.patch({ failedStep: step.id, lastError: error, currentStep: '' });
        return { result: 'failed', failedStep: step.id, error };
      }
      if (stepResult(status, step.id) === 'success') {
        log(`✔ ${step.id} (already done)`);
        this.#emit('cutover-step-finished', { step: step.id, index, total: steps.length, skipped: true });
        continue;
      }
      const failure = await this.#runStep(step, index, async () => {
        if (step.id === 'registry-pivot' && status.registriesYamlActive !== 'v2')
          // The nodes are told only now: the step's precondition (every artifact local) held.
          status = await store.patch({ registriesYamlActive: 'v2' });
      });
      status = (await store.read()) ?? status;
      if (failure) {
        this.#emit('cutover-step-failed', { step: step.id, index, error: failure });
        return { result: 'failed', failedStep: step.id, error: failure };
      }
    }
    if (status.registriesYamlActive !== 'v2') {
      const error = 'every step passed but registriesYamlActive is not v2: the nodes were never pivoted';
      await store.patch({ failedStep: 'registry-pivot', lastError: error, currentStep: '' });
      return { result: 'failed', failedStep: 'registry-pivot', error };
    }
    const left = (await this.#o.remainingTethers?.()) ?? [];
    if (left.length) {
      const error = redact(
        `every step passed but ${left.length} tether(s) remain that no exemption covers, so the cutover is not complete: ${left.slice(0, 20).join('; ')}${left.length > 20 ? '; …' : ''}`,
      ).slice(0, 4000);
      await store.patch({ failedStep: 'tethers', lastError: error, currentStep: '' });
      log(`✖ ${error}`);
      return { result: 'failed', failedStep: 'tethers', error };
    }
    await store.patch({
      cutoverComplete: 'true',
      cutoverFinishedAt: new Date().toISOString(),
      currentStep: '',
      currentStepIndex: String(steps.length),
      progressPercent: '100',
    });
    this.#emit('cutover-completed', { total: steps.length });
    return { result: 'completed' };
  }

  /**
   * Asks every `success` step that can tell whether what it established still holds; records when it
   * held (`recheckedAt`) or what drifted (`drift`, `repairedAt`): the drifted step ids, and the keys
   * to record (written with the run's first patch).
   */
  async #recheck(status: StatusData): Promise<{ drifted: string[]; record: StatusData }> {
    const { log, values, env } = this.#o;
    const drifted: string[] = [];
    const now = new Date().toISOString();
    const record: StatusData = {};
    for (const step of this.#o.steps) {
      if (!step.drift || stepResult(status, step.id) !== 'success') continue;
      // A step that cannot tell (its peer failed) is run again: its apply re-establishes or fails on its own terms.
      const changes = await step
        .drift({
          values,
          env,
          log: (line) => log(`  ${step.id}: ${line}`),
          signal: AbortSignal.timeout(values.stepTimeouts[step.timeoutKey] * 1000),
        })
        .catch((error: unknown) => [
          { action: 'unknown', target: 'its state', detail: `could not be read: ${(error as Error).message}` },
        ]);
      if (!changes.length) {
        record[recheckKey(step.id, 'recheckedAt')] = now;
        continue;
      }
      const what = changes.map((c) => `${c.target}: ${c.detail ?? c.action}`).join('; ');
      log(`↺ ${step.id} drifted (${what}); running it again`);
      drifted.push(step.id);
      Object.assign(record, {
        [recheckKey(step.id, 'recheckedAt')]: now,
        [recheckKey(step.id, 'repairedAt')]: now,
        [recheckKey(step.id, 'drift')]: redact(what).slice(0, 1000),
      });
    }
    return { drifted, record };
  }

  /** Runs one step with bounded retries of transient failures; returns the error text or undefined. */
  async #runStep(step: Step<Env>, index: number, beforeFirstWrite: () => Promise<void>): Promise<string | undefined> {
    const { store, executor, values, env, log, steps } = this.#o;
    const attempts = this.#o.attempts ?? 3;
    await store.patch({
      currentStep: step.id,
      currentStepIndex: String(index),
      progressPercent: progressPercent(index, steps.length),
      [stepKey(step.id, 'result')]: 'running',
      [stepKey(step.id, 'startedAt')]: new Date().toISOString(),
      [stepKey(step.id, 'finishedAt')]: '',
    });
    this.#emit('cutover-step-started', { step: step.id, index, total: steps.length });
    log(`▶ ${step.id}`);
    for (let attempt = 1; ; attempt++) {
      const timeoutMs = values.stepTimeouts[step.timeoutKey] * 1000;
      // The step ends at its deadline, at once if this engine lost the single-flight Lease, or when told to stop.
      const stop = this.#stop;
      const signal = AbortSignal.any([AbortSignal.timeout(timeoutMs), this.#o.lease.signal, stop]);
      const ctx = { values, env, log: (line: string) => log(`  ${step.id}: ${line}`), signal };
      try {
        await step.precondition?.(ctx);
        await beforeFirstWrite();
        const { jobName } = await executor.execute(step, ctx, async (name) => {
          await store.patch({ [stepKey(step.id, 'jobName')]: name });
        });
        await store.patch({
          [stepKey(step.id, 'result')]: 'success',
          [stepKey(step.id, 'finishedAt')]: new Date().toISOString(),
          [stepKey(step.id, 'jobName')]: jobName,
        });
        this.#emit('cutover-step-finished', { step: step.id, index, total: steps.length });
        log(`✔ ${step.id}`);
        return undefined;
      } catch (error) {
        // Another engine owns the run now: leave the status to it.
        if (this.#o.lease.signal.aborted) throw this.#o.lease.signal.reason;
        const message = redact(describeError(stop.aborted ? stop.reason : error));
        if (isTransient(error) && attempt < attempts && !stop.aborted) {
          log(`  ${step.id}: transient failure (attempt ${attempt}/${attempts}), retrying: ${message}`);
          await new Promise((r) => setTimeout(r, (this.#o.retryDelayMs ?? 2000) * attempt));
          continue;
        }
        const data: StatusData = {
          [stepKey(step.id, 'result')]: 'failed',
          [stepKey(step.id, 'finishedAt')]: new Date().toISOString(),
          failedStep: step.id,
          lastError: message.slice(0, 4000),
          currentStep: '',
        };
        await store.patch(data);
        log(`✖ ${step.id}: ${message}`);
        return message;
      }
    }
  }
}

function describeError(error: unknown): string {
  if (error instanceof Error && error.name === 'TimeoutError') return `step deadline exceeded: ${error.message}`;
  return error instanceof Error ? error.message : String(error);
}
