// The controller (ADR 0021): runs as the runner, listens on no port. Its reconcile loop — woken by a
// watch on the status ConfigMap and every few seconds — takes the API's requests (start, rollback, a
// fresh tether inventory), resumes an interrupted run, fires an armed auto trigger when it is due, and
// after the cutover runs the guard, the mirror check and the pin intake. The Lease makes replicas
// safe, and the state lives in the status ConfigMap, so any replica — or a restarted one — carries on.
import { CutoverError, redact } from '../core/errors.ts';
import { stepResult } from '../core/status.ts';
import { MIRROR_KEYS, mirrorHealth, mirrorRecord, type MirrorObservation } from '../core/mirror-health.ts';
import { pinRecord, pinStatus, type PinReport, type PinStatus } from '../core/pin-status.ts';
import {
  afterLook,
  copiesAllowed,
  intakeWindow,
  INTAKE_WINDOW_KEY,
  windowSummary,
  type IntakeWindow,
} from '../core/intake-window.ts';
import type { Decision } from '../adapters/kube/events.ts';
import { AUTO_KEYS, REQUEST_KEYS, STEP_IDS, type StatusData } from '../core/contracts.ts';
import type { Values } from '../core/values.ts';
import type { RunOutcome } from '../engine/engine.ts';
import type { StatusStore } from '../adapters/kube/status-store.ts';
import type { Tether, TetherSummary } from '../inventory/tethers.ts';
import type { RunSource, TetherSnapshot } from './cutover-control.ts';

export interface ServiceOptions {
  values: Values;
  namespace: string;
  store: StatusStore;
  holder: string;
  log: (line: string) => void;
  /**
   * The engine for one run (discovery, the Lease, the Secrets, the jobs executor), built when a run
   * starts. The composition root knows how (`cutover serve` passes buildEngine); this layer does not.
   */
  buildEngine: (purpose: 'run' | 'guard') => Promise<{ run(options?: { guard?: boolean }): Promise<RunOutcome> }>;
  /** Removes egress holds no run owns; throws CutoverError 'in-progress' while a run holds the Lease (composition's reapStrayHolds). */
  reapStrayHolds?: () => Promise<number>;
  /** One look at the Git mirror's head against upstream's, never throwing (composition's mirrorObserver). */
  observeMirror?: () => Promise<MirrorObservation>;
  /** Reads what a mirror revision pins and copies what the local Harbor lacks, under the Lease (composition's intakeMirrorPins). */
  intakePins?: (
    revision: string,
    copy: boolean,
    /** Only these of the cluster's images (the Pod watch's), instead of re-listing the cluster. */
    clusterImages?: string[],
  ) => Promise<PinReport>;
  /** Rolls the cutover back under the Lease (composition's rollbackCutover). */
  rollback?: (by: string) => Promise<unknown>;
  /** Watches the cluster for new upstream images and calls `nudge` with them (composition's clusterPinWatch). */
  watchClusterPins?: (nudge: (images: string[]) => void, signal: AbortSignal) => void;
  /** Records a guard decision as a Kubernetes Event (composition's decisionRecorder); never throws. */
  recordDecision?: (d: Decision) => Promise<void>;
  /** One walk of the cluster for the tether inventory, without Secrets (composition's takeInventory). */
  takeInventory: () => Promise<{ tethers: Tether[]; summary: TetherSummary }>;
  /** Writes the inventory where the API reads it (the tethers ConfigMap). */
  writeTethers: (snapshot: TetherSnapshot) => Promise<void>;
}

export class CutoverService {
  readonly #o: ServiceOptions;
  #run: Promise<void> | undefined;
  #timer: NodeJS.Timeout | undefined;
  #stopped = false;
  #tetherWalk: Promise<void> | undefined;
  #lastGuard = 0;
  #lastMirrorCheck = 0;
  #mirrorDegraded = false;
  #lastIntake = 0;
  /** When the intake last looked (a sweep or not). */
  #lastLook = 0;
  /** New upstream images the Pod watch saw since the last intake look. */
  readonly #newImages = new Set<string>();
  readonly #watching = new AbortController();
  #guarding = false;

  constructor(options: ServiceOptions) {
    this.#o = options;
  }

  /** True while this replica runs the engine. */
  get running(): boolean {
    return this.#run !== undefined;
  }

  /** Waits for this replica's run, if any (tests, shutdown). */
  async settled(): Promise<void> {
    await this.#run;
  }

  /**
   * Starts the cutover unless it is complete (→ 'already-complete') or running anywhere
   * (CutoverError 'in-progress'). Discovery, the Lease and the Secrets are settled before this
   * returns, so a caller learns about those failures; the chain itself runs in the background.
   */
  async start(source: RunSource): Promise<'started' | 'already-complete'> {
    // Decided before the first await: two callers at once (the auto trigger and a click) cannot both pass.
    if (this.#run || this.#starting)
      throw new CutoverError('in-progress', 'a cutover is already in progress on this replica');
    this.#starting = true;
    try {
      return await this.#start(source);
    } finally {
      this.#starting = false;
    }
  }

  #starting = false;

  async #start(source: RunSource): Promise<'started' | 'already-complete'> {
    const { store, holder, log } = this.#o;
    let status: StatusData;
    try {
      status = await store.ensure();
    } catch (error) {
      throw new CutoverError(
        'status-read-failed',
        `cannot read the status ConfigMap: ${error instanceof Error ? error.message : String(error)}`,
        { cause: error },
      );
    }
    if (status.cutoverComplete === 'true') return 'already-complete';
    if (this.#run) throw new CutoverError('in-progress', 'a cutover is already in progress on this replica');
    const engine = await this.#o.buildEngine('run');
    log(`cutover started (${source}) by ${holder}`);
    this.#run = engine
      .run()
      .then(
        (outcome) => {
          log(
            `cutover ${outcome.result}${outcome.failedStep ? `: ${outcome.failedStep}: ${outcome.error ?? ''}` : ''}`,
          );
        },
        (error: unknown) => {
          // A lost Lease or a status write that failed: the next reconcile (here or elsewhere) resumes.
          log(`cutover run stopped: ${redact(error instanceof Error ? error.message : String(error))}`);
        },
      )
      .finally(() => {
        this.#run = undefined;
      });
    return 'started';
  }

  /**
   * The API asked for a fresh inventory: one walk (never two at once), written to the tethers
   * ConfigMap. Beside a run, not under the Lease: it only reads. The request is cleared first, by
   * compare-and-swap, so one controller walks.
   */
  async #takeTethers(version: string): Promise<boolean> {
    // One walk at a time: a request made during it is taken when it ends (the walk may have begun before it).
    if (this.#tetherWalk) return false;
    if (!(await this.#o.store.patchIfUnchanged(version, { [REQUEST_KEYS.tethersAt]: '' }))) return false;
    this.#tetherWalk = this.#o
      .takeInventory()
      .then(({ tethers, summary }) => this.#o.writeTethers({ takenAt: new Date().toISOString(), summary, tethers }))
      .catch((error: unknown) =>
        this.#o.log(`tether inventory: ${redact(error instanceof Error ? error.message : String(error))}`),
      )
      .finally(() => {
        this.#tetherWalk = undefined;
        this.#timerSoon(0);
      });
    return true;
  }

  /**
   * A start or rollback the API wrote: taken (cleared by compare-and-swap, so one controller takes it)
   * and carried out. One it cannot carry out is said in `requestError` and the log.
   */
  async #takeRequest(status: { data: StatusData; version: string }): Promise<boolean> {
    const { data, version } = status;
    const kind = data[REQUEST_KEYS.startAt] ? 'start' : data[REQUEST_KEYS.rollbackAt] ? 'rollback' : undefined;
    if (!kind) return false;
    const atKey = kind === 'start' ? REQUEST_KEYS.startAt : REQUEST_KEYS.rollbackAt;
    if (!(await this.#o.store.patchIfUnchanged(version, { [atKey]: '' }))) return true;
    try {
      if (kind === 'start') {
        const source = data[REQUEST_KEYS.startSource];
        await this.start(source === 'internal' || source === 'auto' ? source : 'operator');
      } else await this.rollback(data[REQUEST_KEYS.rollbackBy] || 'an operator');
    } catch (error) {
      const message = redact(error instanceof Error ? error.message : String(error));
      this.#o.log(`${kind} request of ${data[atKey]}: ${message}`);
      await this.#o.store.patch({ [REQUEST_KEYS.error]: `${new Date().toISOString()} ${kind}: ${message}` });
    }
    return true;
  }

  #reconciling = false;
  #reconcileAgain = false;

  /**
   * One reconcile: take the API's requests, fire a due auto trigger, resume an interrupted run. Never two
   * at once in this process (a wake-up during one runs it again after). Errors are logged, never thrown.
   */
  async reconcile(): Promise<void> {
    if (this.#reconciling) {
      this.#reconcileAgain = true;
      return;
    }
    this.#reconciling = true;
    try {
      await this.#reconcileOnce();
    } finally {
      this.#reconciling = false;
      if (this.#reconcileAgain && !this.#stopped) {
        this.#reconcileAgain = false;
        void this.reconcile();
      }
    }
  }

  async #reconcileOnce(): Promise<void> {
    const { store, log } = this.#o;
    try {
      let status = await store.readVersioned();
      if (!status) return;
      // A fresh inventory is walked beside everything else: the request is taken, the reconcile goes on.
      if (status.data[REQUEST_KEYS.tethersAt] && (await this.#takeTethers(status.version)))
        status = await store.readVersioned();
      if (!status) return;
      const data = status.data;
      if (this.#run) return;
      if (await this.#takeRequest(status)) return;
      const interrupted =
        data.cutoverStartedAt &&
        !data.failedStep &&
        (data.currentStep || STEP_IDS.some((s) => stepResult(data, s) === 'running'));
      // No run is under way (a resume reaps on its own): a hold left by an engine that died goes now.
      if (!interrupted) await this.#reapStrays();
      if (data.cutoverComplete === 'true') {
        await this.#intake((await this.#checkMirror(data)) ?? data);
        return await this.#guard();
      }
      const due = data[AUTO_KEYS.dueAt];
      if (due && !data[AUTO_KEYS.firedAt] && Date.parse(due) <= Date.now()) {
        if (
          await store.patchIfUnchanged(status.version, {
            [AUTO_KEYS.firedAt]: new Date().toISOString(),
          })
        ) {
          if (data.cutoverStartedAt) log('auto trigger due, but the cutover was already started; not firing');
          else await this.#startQuietly('auto');
        }
        return;
      }
      if (interrupted) await this.#startQuietly('resume');
    } catch (error) {
      log(`reconcile: ${redact(error instanceof Error ? error.message : String(error))}`);
    }
  }

  async #reapStrays(): Promise<void> {
    try {
      const removed = (await this.#o.reapStrayHolds?.()) ?? 0;
      if (removed) this.#o.log(`reaped ${removed} egress hold policies no run owns (an engine stopped mid-window)`);
    } catch (error) {
      if (error instanceof CutoverError && error.code === 'in-progress') return;
      throw error;
    }
  }

  /**
   * The guard: every `guard.periodSeconds`, the replica that gets the Lease re-verifies every step of
   * the complete cutover and repairs what drifted (a reverted URL, a lost spec.patches entry). The
   * durable pivot keeps the cutover without it; the guard only shortens how long a revert lasts.
   */
  async #guard(): Promise<void> {
    const period = this.#o.values.guard.periodSeconds * 1000;
    if (!period || Date.now() - this.#lastGuard < period) return;
    this.#lastGuard = Date.now();
    const { log } = this.#o;
    let engine;
    try {
      engine = await this.#o.buildEngine('guard');
    } catch (error) {
      // Another replica is on it — or a dead one's Lease has not expired yet: look again at the next tick.
      if (error instanceof CutoverError && error.code === 'in-progress') {
        this.#lastGuard = 0;
        return;
      }
      throw error;
    }
    this.#guarding = true;
    this.#run = engine
      .run({ guard: true })
      .then(
        (outcome) => {
          if (outcome.result === 'already-complete') return;
          log(
            `guard: repair ${outcome.result}${outcome.failedStep ? `: ${outcome.failedStep}: ${outcome.error ?? ''}` : ''}`,
          );
        },
        (error: unknown) =>
          log(`guard pass stopped: ${redact(error instanceof Error ? error.message : String(error))}`),
      )
      .finally(() => {
        this.#run = undefined;
        this.#guarding = false;
      });
    await this.#run;
  }

  /**
   * After the cutover, every `guard.mirrorCheckSeconds`: where the Git mirror stands against upstream,
   * written to the status (ADR 0016). A read-only look, so every replica may take it; a change of
   * verdict (degraded or healthy again) is logged.
   */
  async #checkMirror(data: StatusData): Promise<StatusData | undefined> {
    const period = this.#o.values.guard.mirrorCheckSeconds * 1000;
    if (!this.#o.observeMirror || !period || Date.now() - this.#lastMirrorCheck < period) return undefined;
    this.#lastMirrorCheck = Date.now();
    const observed = await this.#o.observeMirror();
    const written = await this.#o.store.patch(mirrorRecord(data, observed, this.#o.values.guard.mirrorMaxAgeSeconds));
    // Logged when this replica's verdict changes (the age grows between looks, so the status alone cannot say when).
    const degraded = mirrorHealth(written)?.degraded ?? false;
    if (degraded !== this.#mirrorDegraded) this.#o.log(mirrorHealth(written)?.summary ?? '');
    this.#mirrorDegraded = degraded;
    return written;
  }

  /**
   * The pin radar (ADR 0017): at once when the mirror's head is a revision not read yet or an approval
   * opened a window, else every `intake.periodSeconds` (the cluster's own pins, and pending ones
   * again), read what the head and the cluster pin; copy what the local Harbor lacks and let Flux on
   * when `auto`, or inside an approved window when `request` (ADR 0018). Each decision is logged and
   * recorded as an Event. Under the Lease: another replica on it is no error.
   */
  async #intake(data: StatusData): Promise<void> {
    const { values, store } = this.#o;
    const head = data[MIRROR_KEYS.head];
    if (!this.#o.intakePins || values.intake.mode === 'off' || !head) return;
    const pins = pinStatus(data);
    const window = intakeWindow(data);
    // The full sweep (the cluster re-listed) every period, for a new head, or an approval; in between,
    // what the Pod watch saw appear is looked at alone.
    const sweep =
      Date.now() - this.#lastIntake >= values.intake.periodSeconds * 1000 ||
      pins?.revision !== head ||
      (window?.outcome === 'open' && (pins?.checkedAt ?? '') < window.approvedAt);
    // Pins that could not be made local are tried again every retrySeconds, without a sweep.
    const retry = Boolean(pins?.pendingCount) && Date.now() - this.#lastLook >= values.intake.retrySeconds * 1000;
    if (!sweep && !retry && !this.#newImages.size) return;
    this.#lastLook = Date.now();
    if (sweep) this.#lastIntake = Date.now();
    const seen = sweep ? undefined : [...this.#newImages, ...(retry ? (pins?.pending ?? []).map((p) => p.ref) : [])];
    this.#newImages.clear();
    try {
      const look = await this.#o.intakePins(head, copiesAllowed(values, data, head, new Date()), seen);
      // An incremental look did not see the rest of the cluster: what the last sweep found pending stays listed.
      const report = seen
        ? {
            ...look,
            pins: Math.max(look.pins, pins?.total ?? 0),
            pending: [...look.pending, ...(pins?.pending ?? []).filter((p) => !look.looked.includes(p.ref))],
          }
        : look;
      const now = new Date();
      const closed = afterLook(data, head, report, now);
      await store.patch({
        ...pinRecord(report, now),
        ...(closed ? { [INTAKE_WINDOW_KEY]: JSON.stringify(closed) } : {}),
      });
      for (const d of decisions(report, pins, closed)) {
        this.#o.log(`intake: ${d.note}`);
        await this.#o.recordDecision?.(d);
      }
    } catch (error) {
      if (error instanceof CutoverError && error.code === 'in-progress') {
        for (const image of seen ?? []) this.#newImages.add(image); // looked at again at the next tick
        return;
      }
      // Otherwise the next sweep looks at them again.
      this.#o.log(`pin intake: ${redact(error instanceof Error ? error.message : String(error))}`);
    }
  }

  /** A sovereign-admin's rollback (requested through the API): started here, under the Lease; the status says how it goes. */
  async rollback(by: string): Promise<'started'> {
    const { rollback, log } = this.#o;
    if (!rollback) throw new CutoverError('no-rollback', 'this controller cannot roll back');
    // This replica's guard pass (a repair is a run too) ends within seconds: wait for it rather than refuse.
    while (this.#guarding) await this.#run;
    if (this.#run) throw new CutoverError('in-progress', 'a cutover on this replica is in progress: abort it first');
    log(`rollback started by ${by}`);
    this.#run = rollback(by)
      .then(
        () => log(`rollback by ${by} complete`),
        async (error: unknown) => {
          // Said where the operator looks (the status), not only in this log: the API answered 202 already.
          const message = redact(error instanceof Error ? error.message : String(error));
          log(`rollback by ${by} failed: ${message}`);
          await this.#o.store
            .patch({ [REQUEST_KEYS.error]: `${new Date().toISOString()} rollback by ${by}: ${message}` })
            .catch(() => undefined);
        },
      )
      .finally(() => {
        this.#run = undefined;
      });
    return 'started';
  }

  /** True while this replica runs a guard pass (short: shutdown waits for it, so its Lease is released). */
  get guarding(): boolean {
    return this.#guarding;
  }

  async #startQuietly(source: RunSource): Promise<void> {
    try {
      await this.start(source);
    } catch (error) {
      // Another replica runs it: that is the point of the Lease.
      if (error instanceof CutoverError && error.code === 'in-progress') return;
      this.#o.log(`${source}: ${redact(error instanceof Error ? error.message : String(error))}`);
    }
  }

  /**
   * Reconciles now and every `intervalMs`; a request the API writes, or a new upstream image in the
   * cluster, brings the next reconcile forward.
   */
  startReconciling(intervalMs: number): void {
    this.#o.watchClusterPins?.((images) => {
      for (const image of images) this.#newImages.add(image);
      this.#timerSoon(0);
    }, this.#watching.signal);
    void this.#wakeOnRequests();
    const loop = (): void => {
      void this.reconcile().finally(() => {
        if (this.#stopped) return;
        this.#timer = setTimeout(loop, intervalMs);
        this.#timer.unref();
      });
    };
    loop();
  }

  /** One watch of the status at a time, woken only by a change that carries a request. */
  async #wakeOnRequests(): Promise<void> {
    const pending = (data: StatusData) =>
      Boolean(data[REQUEST_KEYS.startAt] || data[REQUEST_KEYS.rollbackAt] || data[REQUEST_KEYS.tethersAt]);
    while (!this.#stopped) {
      const status = await this.#o.store.readVersioned().catch(() => undefined);
      if (status && pending(status.data)) this.#timerSoon(0);
      await this.#o.store.waitForChange(status?.version ?? '', {
        signal: this.#watching.signal,
        timeoutMs: 60_000,
        changed: pending,
      });
      // A watch the apiserver ends at once (or a missing ConfigMap) must not become a busy loop.
      await new Promise((resolve) => setTimeout(resolve, 250).unref());
    }
  }

  #timerSoon(delayMs: number): void {
    setTimeout(() => void this.reconcile(), delayMs + 50).unref();
  }

  stop(): void {
    this.#stopped = true;
    this.#watching.abort();
    clearTimeout(this.#timer);
  }
}

/** What one intake look decided, as Events: copies made, Flux let on or held, a delivery window closed. */
function decisions(report: PinReport, before: PinStatus | undefined, closed: IntakeWindow | undefined): Decision[] {
  const rev = report.revision.slice(0, 12);
  const out: Decision[] = [];
  if (report.copied.length)
    out.push({
      reason: 'PinsCopied',
      action: 'Copy',
      type: 'Normal',
      note: `${report.copied.length} copied into the local Harbor for revision ${rev}: ${report.copied.join(', ')}`,
    });
  if (report.verified && before?.verifiedRevision !== report.revision)
    out.push({
      reason: 'RevisionVerified',
      action: 'LetOn',
      type: 'Normal',
      note: `all ${report.pins} pins of ${rev} are in the local Harbor: Flux let onto it`,
    });
  const changed = before?.revision !== report.revision || before.pendingCount !== report.pending.length;
  if (!report.verified && changed)
    out.push({
      reason: 'RevisionHeld',
      action: 'Hold',
      type: 'Warning',
      note: `Flux held at ${before?.verifiedRevision.slice(0, 12) || 'the revision it has'}: ${report.pending.length} of ${report.pins} pins of ${rev} not servable${report.pending.length ? `: ${report.pending.map((p) => `${p.ref} (${p.reason})`).join('; ')}` : ' (awaiting approval)'}`,
    });
  if (closed && closed.outcome !== 'open')
    out.push({
      reason: 'IntakeWindowClosed',
      action: 'CloseWindow',
      type: closed.outcome === 'verified' ? 'Normal' : 'Warning',
      note: windowSummary(closed),
    });
  return out;
}
