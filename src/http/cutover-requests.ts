// The cutover as the API drives it (ADR 0021): the API runs nothing. A start, a rollback or a fresh
// inventory is a request written into the status ConfigMap by compare-and-swap, which the controller
// (the runner's Deployment, cutover-service.ts) takes. What the API can decide from what it may read —
// the run is complete, the Lease is held, no step ConfigMap is installed, a request is already pending
// — it decides before answering, so a caller still gets 200 / 409 / 424 at once.
import type { KubeCluster } from '../adapters/kube/cluster.ts';
import { CutoverError } from '../core/errors.ts';
import { AUTO_KEYS, CONTROLLER_NAME, REQUEST_KEYS, RUNNER, type StatusData } from '../core/contracts.ts';
import { windowSummary, type IntakeWindow } from '../core/intake-window.ts';
import type { Change } from '../core/step.ts';
import type { Values } from '../core/values.ts';
import type { StatusStore } from '../adapters/kube/status-store.ts';
import type { CutoverControl, RunSource, TetherSnapshot } from './cutover-control.ts';
import type { FeedEvent } from './status-feed.ts';

export interface RequestsOptions {
  values: Values;
  cluster: KubeCluster;
  namespace: string;
  store: StatusStore;
  log: (line: string) => void;
  /** Who holds the single-flight Lease now, if anyone (a run, a rollback, a guard pass, an intake look). */
  liveHolder: () => Promise<string | undefined>;
  /** What a run or a rollback under way is, if one is (composition's runUnderWay). */
  runUnderWay: () => Promise<string | undefined>;
  /** Throws CutoverError 'no-steps-found' / 'invalid-step-configmap' when the install's steps cannot run. */
  checkSteps: () => Promise<unknown>;
  /** The last inventory the controller wrote (tethers ConfigMap; undefined before the first), with its version for a wait. */
  readTethers: () => Promise<{ snapshot: TetherSnapshot | undefined; version: string } | undefined>;
  /** Waits until the tethers ConfigMap changes after `version`, `timeoutMs` passes or the signal aborts. */
  tethersChanged: (version: string, timeoutMs: number) => Promise<void>;
  /** Asks the running cutover to stop (composition's requestAbort); undefined when nothing runs. */
  requestAbort: (by: string) => Promise<string | undefined>;
  /** Opens the delivery window of `intake.mode: request` (composition's approveIntake). */
  approveIntake: (by: string, revision: string | undefined) => Promise<IntakeWindow | undefined>;
  /** What a rollback would undo (composition's rollbackPreview: the journal, no credential read). */
  planRollback: () => Promise<Change[]>;
  publish: (event: FeedEvent) => void;
}

/** How long a caller of a fresh inventory waits for the controller's walk. */
export const TETHERS_WAIT_MS = 60_000;

export class CutoverRequests implements CutoverControl {
  readonly #o: RequestsOptions;
  #tethers: TetherSnapshot | undefined;
  #tethersWait: Promise<TetherSnapshot> | undefined;

  constructor(options: RequestsOptions) {
    this.#o = options;
  }

  /** A start request, unless the run is complete, under way, already requested, or has no steps to run. */
  async start(source: RunSource): Promise<'started' | 'already-complete'> {
    const outcome = await this.#request(async (data) => {
      if (data.cutoverComplete === 'true') return undefined;
      const holder = await this.#o.liveHolder();
      if (holder) throw new CutoverError('in-progress', `a cutover is already in progress (held by ${holder})`);
      refusePending(data);
      await this.#o.checkSteps();
      return {
        [REQUEST_KEYS.startAt]: new Date().toISOString(),
        [REQUEST_KEYS.startSource]: source,
        [REQUEST_KEYS.error]: '',
      };
    });
    if (!outcome) {
      this.#o.publish({
        time: new Date().toISOString(),
        phase: 'cutover-already-complete',
        level: 'info',
        message: 'the cutover is already complete',
      });
      return 'already-complete';
    }
    this.#o.log(`cutover start requested (${source})`);
    return 'started';
  }

  /** A rollback request: refused while a run or a rollback is under way, or one is already requested. */
  async rollback(by: string): Promise<'started'> {
    await this.#request(async (data) => {
      const running = await this.#o.runUnderWay();
      if (running) throw new CutoverError('in-progress', `${running} is in progress: abort it first`);
      refusePending(data);
      return {
        [REQUEST_KEYS.rollbackAt]: new Date().toISOString(),
        [REQUEST_KEYS.rollbackBy]: by,
        [REQUEST_KEYS.error]: '',
      };
    });
    this.#o.log(`rollback requested by ${by}`);
    return 'started';
  }

  /** Stops the running cutover at its next safe point, or withdraws a start or rollback not taken yet. */
  async abort(by: string): Promise<string> {
    const holder = await this.#o.requestAbort(by);
    if (holder) {
      this.#o.log(`abort of the run held by ${holder} requested by ${by}`);
      return holder;
    }
    const withdrawn = await this.#request(async (data) => {
      const pending = data[REQUEST_KEYS.startAt] ? 'start' : data[REQUEST_KEYS.rollbackAt] ? 'rollback' : undefined;
      if (!pending) return undefined;
      return {
        [pending === 'start' ? REQUEST_KEYS.startAt : REQUEST_KEYS.rollbackAt]: '',
        [REQUEST_KEYS.error]: `${new Date().toISOString()} ${pending} withdrawn by ${by} before it began`,
      };
    });
    if (!withdrawn) throw new CutoverError('nothing-running', 'no cutover is running: nothing to abort');
    this.#o.log(`a pending request withdrawn by ${by}`);
    return 'a request not taken yet';
  }

  async rollbackPlan(): Promise<Change[]> {
    return await this.#o.planRollback();
  }

  async approveIntake(by: string, revision?: string): Promise<IntakeWindow | undefined> {
    const window = await this.#o.approveIntake(by, revision);
    if (window) this.#o.log(`intake: ${windowSummary(window)}`);
    return window;
  }

  /**
   * The inventory the controller took, at most `maxAgeMs` old: an older one is asked for again and
   * waited for (concurrent callers share the wait); 503 'inventory-timeout' after TETHERS_WAIT_MS.
   */
  async tethers(maxAgeMs = 30_000): Promise<TetherSnapshot> {
    const current = await this.#o.readTethers();
    const snapshot = current?.snapshot;
    if (snapshot) this.#tethers = snapshot;
    if (snapshot && Date.now() - Date.parse(snapshot.takenAt) < maxAgeMs) return snapshot;
    this.#tethersWait ??= this.#freshTethers(current?.version ?? '').finally(() => (this.#tethersWait = undefined));
    return await this.#tethersWait;
  }

  async #freshTethers(version: string): Promise<TetherSnapshot> {
    const asked = Date.now();
    // One pending request is enough, whoever wrote it; a write in between (the run's progress) means asking again.
    await this.#request(async (data) =>
      data[REQUEST_KEYS.tethersAt] ? undefined : { [REQUEST_KEYS.tethersAt]: new Date(asked).toISOString() },
    );
    const until = asked + TETHERS_WAIT_MS;
    for (let seen = version; Date.now() < until;) {
      await this.#o.tethersChanged(seen, Math.min(10_000, until - Date.now()));
      const now = await this.#o.readTethers();
      // A watch that ends at once (no ConfigMap yet, a broken watch) must not become a busy loop.
      if (!now || now.version === seen) {
        await new Promise((resolve) => setTimeout(resolve, 500));
        continue;
      }
      seen = now.version;
      if (!now.snapshot) continue;
      this.#tethers = now.snapshot;
      if (Date.parse(now.snapshot.takenAt) >= asked - 1000) return now.snapshot;
    }
    throw new CutoverError(
      'inventory-timeout',
      `the controller did not take the tether inventory within ${TETHERS_WAIT_MS / 1000} s (is ${CONTROLLER_NAME} running?)`,
    );
  }

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
   * recorded in the status ConfigMap with a compare-and-swap, so two replicas cannot both arm it. The
   * controller fires it when it is due.
   */
  async armAutoTrigger(username: string): Promise<boolean> {
    const { values, store, log } = this.#o;
    if (!values.trigger.auto) return false;
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
    return true;
  }

  async #status(): Promise<{ data: StatusData; version: string }> {
    let status;
    try {
      status = await this.#o.store.readVersioned();
    } catch (error) {
      throw new CutoverError(
        'status-read-failed',
        `cannot read the status ConfigMap: ${error instanceof Error ? error.message : String(error)}`,
        { cause: error },
      );
    }
    if (!status)
      throw new CutoverError(
        'status-read-failed',
        `the status ConfigMap ${this.#o.store.namespace}/${this.#o.store.name} does not exist (the install ships it)`,
      );
    return status;
  }

  /**
   * Decides on the status as read and writes the request by compare-and-swap; a write by anyone in
   * between (another replica's request, the controller's progress) means deciding again on what is
   * there now. `decide` returns undefined when there is nothing to write.
   */
  async #request(decide: (data: StatusData) => Promise<StatusData | undefined>): Promise<StatusData | undefined> {
    for (let attempt = 0; attempt < 5; attempt++) {
      const status = await this.#status();
      const patch = await decide(status.data);
      if (!patch) return undefined;
      if (await this.#o.store.patchIfUnchanged(status.version, patch)) return patch;
    }
    throw new CutoverError('status-conflict', 'the status kept changing while writing the request: try again');
  }
}

/** A request not taken yet: another now would be a second start or rollback. */
function refusePending(data: StatusData): void {
  if (data[REQUEST_KEYS.startAt])
    throw new CutoverError(
      'in-progress',
      `a start was requested at ${data[REQUEST_KEYS.startAt]} (${data[REQUEST_KEYS.startSource] ?? ''}); the controller is taking it`,
    );
  if (data[REQUEST_KEYS.rollbackAt])
    throw new CutoverError(
      'in-progress',
      `a rollback was requested at ${data[REQUEST_KEYS.rollbackAt]} by ${data[REQUEST_KEYS.rollbackBy] ?? ''}; the controller is taking it`,
    );
}
