// What the API does, without HTTP: start a run (operator, internal trigger, auto trigger, resume),
// check ServiceAccount tokens, and a reconcile loop that resumes an interrupted run and fires an
// armed auto trigger when it is due. The engine runs in this process with the jobs executor; the
// Lease makes replicas safe, and the state lives in the status ConfigMap, so any replica — or a
// restarted one — carries on.
import type { KubeCluster } from '../adapters/kube/cluster.ts';
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
import type { Change } from '../core/step.ts';
import { AUTO_KEYS, RUNNER, STEP_IDS, type StatusData } from '../core/contracts.ts';
import type { Values } from '../core/values.ts';
import type { RunOutcome } from '../engine/engine.ts';
import type { StatusStore } from '../adapters/kube/status-store.ts';
import type { Tether, TetherSummary } from '../inventory/tethers.ts';
import { type CutoverControl, type RunSource, type TetherSnapshot } from './cutover-control.ts';
import type { FeedEvent } from './status-feed.ts';

export interface ServiceOptions {
  values: Values;
  cluster: KubeCluster;
  namespace: string;
  store: StatusStore;
  holder: string;
  log: (line: string) => void;
  /**
   * The engine for one run (discovery, the Lease, the Secrets, the jobs executor), built when a run
   * starts. The composition root knows how (`cutover serve` passes buildEngine); this layer does not.
   */
  buildEngine: () => Promise<{ run(options?: { guard?: boolean }): Promise<RunOutcome> }>;
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
  /** Opens the delivery window of `intake.mode: request` for the pending revision (composition's approveIntake). */
  approveIntake?: (by: string, revision: string | undefined) => Promise<IntakeWindow | undefined>;
  /** What a rollback would undo (composition's rollbackPreview). */
  planRollback?: () => Promise<Change[]>;
  /** Rolls the cutover back under the Lease (composition's rollbackCutover); `isRunning`: whether a run is under way (composition's runUnderWay). */
  rollback?: (by: string) => Promise<unknown>;
  isRunning?: () => Promise<string | undefined>;
  /** Asks the running cutover to stop; returns who runs it, undefined when nothing does (composition's requestAbort). */
  requestAbort?: (by: string) => Promise<string | undefined>;
  /** Watches the cluster for new upstream images and calls `nudge` with them (composition's clusterPinWatch). */
  watchClusterPins?: (nudge: (images: string[]) => void, signal: AbortSignal) => void;
  /** Records a guard decision as a Kubernetes Event (composition's decisionRecorder); never throws. */
  recordDecision?: (d: Decision) => Promise<void>;
  /** One walk of the cluster for the tether inventory, without Secrets (composition's takeInventory). */
  takeInventory: () => Promise<{ tethers: Tether[]; summary: TetherSummary }>;
  /** Engine outcomes and announcements (e.g. `cutover-already-complete`) for the event feed. */
  publish: (event: FeedEvent) => void;
  onOutcome?: (outcome: RunOutcome['result'] | 'crashed') => void;
}

export class CutoverService implements CutoverControl {
  readonly #o: ServiceOptions;
  #run: Promise<void> | undefined;
  #timer: NodeJS.Timeout | undefined;
  #stopped = false;
  #tethers: TetherSnapshot | undefined;
  #tetherWalk: Promise<TetherSnapshot> | undefined;
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
    if (status.cutoverComplete === 'true') {
      this.#o.publish({
        time: new Date().toISOString(),
        phase: 'cutover-already-complete',
        level: 'info',
        message: 'the cutover is already complete',
      });
      return 'already-complete';
    }
    if (this.#run) throw new CutoverError('in-progress', 'a cutover is already in progress on this replica');
    const engine = await this.#o.buildEngine();
    log(`cutover started (${source}) by ${holder}`);
    this.#run = engine
      .run()
      .then(
        (outcome) => {
          log(
            `cutover ${outcome.result}${outcome.failedStep ? `: ${outcome.failedStep}: ${outcome.error ?? ''}` : ''}`,
          );
          this.#o.onOutcome?.(outcome.result);
        },
        (error: unknown) => {
          // A lost Lease or a status write that failed: the next reconcile (here or elsewhere) resumes.
          log(`cutover run stopped: ${redact(error instanceof Error ? error.message : String(error))}`);
          this.#o.onOutcome?.('crashed');
        },
      )
      .finally(() => {
        this.#run = undefined;
      });
    return 'started';
  }

  /**
   * The tether inventory as the runner sees it (no Secrets), at most `maxAgeMs` old; concurrent
   * callers share one walk of the cluster.
   */
  async tethers(maxAgeMs = 30_000): Promise<TetherSnapshot> {
    if (this.#tethers && Date.now() - Date.parse(this.#tethers.takenAt) < maxAgeMs) return this.#tethers;
    this.#tetherWalk ??= this.#o
      .takeInventory()
      .then(({ tethers, summary }) => (this.#tethers = { takenAt: new Date().toISOString(), summary, tethers }))
      .finally(() => (this.#tetherWalk = undefined));
    return await this.#tetherWalk;
  }

  /** The last inventory taken, if any (never waits). */
  get lastTethers(): TetherSnapshot | undefined {
    return this.#tethers;
  }

  /** The ServiceAccount username behind a bearer token, if the allow-list admits it. */
  async reviewToken(token: string): Promise<{ username: string; allowed: boolean }> {
    let username: string;
    try {
      username = await this.#o.cluster.tokenUser(token);
    } catch (error) {
      throw new CutoverError('token-review-failed', `TokenReview failed: ${(error as Error).message}`, {
        cause: error,
      });
    }
    return { username, allowed: username !== '' && this.allowedServiceAccounts().includes(username) };
  }

  allowedServiceAccounts(): string[] {
    const configured = this.#o.values.trigger.internalServiceAccounts;
    return configured.length ? configured : [`system:serviceaccount:${this.#o.namespace}:${RUNNER}`];
  }

  /**
   * After a sovereign-admin's sign-in: when `trigger.auto` is on, arm the auto trigger — once ever,
   * recorded in the status ConfigMap with a compare-and-swap, so two replicas cannot both arm it.
   */
  async armAutoTrigger(username: string): Promise<boolean> {
    const { values, store, log } = this.#o;
    if (!values.trigger.auto) return false;
    await store.ensure();
    const status = await store.readVersioned();
    if (!status) return false;
    const { data } = status;
    if (data[AUTO_KEYS.armedAt] || data.cutoverStartedAt || data.cutoverComplete === 'true') return false;
    const now = Date.now();
    const patch = {
      [AUTO_KEYS.armedAt]: new Date(now).toISOString(),
      [AUTO_KEYS.armedBy]: username,
      [AUTO_KEYS.dueAt]: new Date(now + values.trigger.autoDelaySeconds * 1000).toISOString(),
    };
    if (!(await store.patchIfUnchanged(status.version, patch))) return false;
    log(`auto trigger armed by ${username}'s sign-in; fires at ${patch[AUTO_KEYS.dueAt]}`);
    this.#timerSoon(values.trigger.autoDelaySeconds * 1000);
    return true;
  }

  /** One reconcile: fire a due auto trigger, resume an interrupted run. Errors are logged, never thrown. */
  async reconcile(): Promise<void> {
    const { store, log } = this.#o;
    try {
      const status = await store.readVersioned();
      const data = status?.data ?? {};
      if (!status || this.#run) return;
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
      engine = await this.#o.buildEngine();
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
          this.#o.onOutcome?.(outcome.result);
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

  /** An operator's approval of the pending revision (`intake.mode: request`); the next look copies at once. */
  async approveIntake(by: string, revision?: string): Promise<IntakeWindow | undefined> {
    if (!this.#o.approveIntake) throw new CutoverError('intake-not-request', 'this server has no intake');
    const window = await this.#o.approveIntake(by, revision);
    if (window) this.#o.log(`intake: ${windowSummary(window)}`);
    this.#timerSoon(0);
    return window;
  }

  /** An operator's abort of the running cutover (any replica's, or a CLI run's): a status request its engine sees. */
  async abort(by: string): Promise<string> {
    const holder = await this.#o.requestAbort?.(by);
    if (!holder) throw new CutoverError('nothing-running', 'no cutover is running: nothing to abort');
    this.#o.log(`abort of the run held by ${holder} requested by ${by}`);
    return holder;
  }

  async rollbackPlan(): Promise<Change[]> {
    if (!this.#o.planRollback) throw new CutoverError('no-rollback', 'this server cannot roll back');
    return await this.#o.planRollback();
  }

  /** A sovereign-admin's rollback: started here, under the Lease; the status says how it goes. */
  async rollback(by: string): Promise<'started'> {
    const { rollback, isRunning, log } = this.#o;
    if (!rollback) throw new CutoverError('no-rollback', 'this server cannot roll back');
    // This replica's guard pass (a repair is a run too) ends within seconds: wait for it rather than refuse.
    while (this.#guarding) await this.#run;
    const running = this.#run ? 'a cutover on this replica' : await isRunning?.();
    if (running) throw new CutoverError('in-progress', `${running} is in progress: abort it first`);
    log(`rollback started by ${by}`);
    this.#run = rollback(by)
      .then(
        () => log(`rollback by ${by} complete`),
        (error: unknown) =>
          log(`rollback by ${by} failed: ${redact(error instanceof Error ? error.message : String(error))}`),
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

  /** Reconciles now and every `intervalMs`; a new upstream image in the cluster brings the intake's look forward. */
  startReconciling(intervalMs: number): void {
    this.#o.watchClusterPins?.((images) => {
      for (const image of images) this.#newImages.add(image);
      this.#timerSoon(0);
    }, this.#watching.signal);
    const loop = (): void => {
      void this.reconcile().finally(() => {
        if (this.#stopped) return;
        this.#timer = setTimeout(loop, intervalMs);
        this.#timer.unref();
      });
    };
    loop();
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
