// The cutover engine: runs the chain in order under a single-flight Lease, records every step in
// the status ConfigMap, skips what already succeeded, resumes its own interrupted rows, retries
// transient failures a bounded number of times and stops at the first genuine failure.
import { EventEmitter } from 'node:events';
import { isTransient, redact } from '../core/errors.ts';
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
  execute(step: Step<Env>, ctx: StepContext<Env>): Promise<{ jobName: string }>;
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
}

export class Engine<Env> extends EventEmitter<{ event: [EngineEvent] }> {
  readonly #o: EngineOptions<Env>;

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
    const { store, lease, steps, log } = this.#o;
    await lease.acquire();
    try {
      let status = await store.ensure();
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
      const now = new Date().toISOString();
      status = await store.patch({
        ...record,
        ...stale,
        ...(status.cutoverStartedAt ? {} : { cutoverStartedAt: now }),
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
        if (this.#o.stop?.aborted) {
          const error = redact(describeError(this.#o.stop.reason));
          await store.patch({ failedStep: step.id, lastError: error, currentStep: '' });
          return { result: 'failed', failedStep: step.id, error };
        }
        if (stepResult(status, step.id) === 'success') {
          log(`✔ ${step.id} (already done)`);
          continue;
        }
        if (step.id === 'registry-pivot' && status.registriesYamlActive !== 'v2') {
          // Nodes may only pivot once every artifact is in the local registry (03 passed).
          status = await store.patch({ registriesYamlActive: 'v2' });
        }
        const failure = await this.#runStep(step, index);
        status = (await store.read()) ?? status;
        if (failure) {
          this.#emit('cutover-step-failed', { step: step.id, index, error: failure });
          return { result: 'failed', failedStep: step.id, error: failure };
        }
      }
      const present = new Set(steps.map((s) => s.id as string));
      const absent = (this.#o.requiredSteps ?? []).filter((id) => !present.has(id));
      if (absent.length) {
        // Only a partial install gets here (jobs mode runs the steps its ConfigMaps declare).
        const error = `the chain lacks step(s) ${absent.join(', ')}: no step ConfigMap declares them, so the cutover cannot complete`;
        await store.patch({ failedStep: absent[0] ?? '', lastError: error });
        return { result: 'failed', failedStep: absent[0] ?? '', error };
      }
      if (status.registriesYamlActive !== 'v2') {
        const error = 'every step passed but registriesYamlActive is not v2: the nodes were never pivoted';
        await store.patch({ failedStep: 'registry-pivot', lastError: error });
        return { result: 'failed', failedStep: 'registry-pivot', error };
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
    } finally {
      await lease.release();
    }
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
  async #runStep(step: Step<Env>, index: number): Promise<string | undefined> {
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
      const stop = this.#o.stop ?? new AbortController().signal;
      const signal = AbortSignal.any([AbortSignal.timeout(timeoutMs), this.#o.lease.signal, stop]);
      try {
        const { jobName } = await executor.execute(step, {
          values,
          env,
          log: (line) => log(`  ${step.id}: ${line}`),
          signal,
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
