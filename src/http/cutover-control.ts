// What the HTTP app asks of the rest of `cutover serve`, by role: the cutover (start, triggers,
// tethers), the status feed and the operator sign-in. The routes are written against these, not
// against the classes, so the app runs on CutoverRequests and StatusFeed in `cutover serve` and on
// in-memory stand-ins in the unit tests — no cluster needed to check a status code.
import type { StatusData } from '../core/contracts.ts';
import type { Change } from '../core/step.ts';
import { PackedConfigMap } from '../adapters/kube/packed-config-map.ts';
import { CutoverError } from '../core/errors.ts';
import type { IntakeWindow } from '../core/intake-window.ts';
import type { Tether, TetherSummary } from '../inventory/tethers.ts';
import type { PendingLogin, Session } from './session.ts';
import type { FeedEvent } from './status-feed.ts';

export type RunSource = 'operator' | 'internal' | 'auto' | 'resume';

export interface TetherSnapshot {
  takenAt: string;
  summary: TetherSummary;
  tethers: Tether[];
  /** Rows left out to fit the tethers ConfigMap (the summary counts them; `cutover tethers` lists them all). */
  omitted?: number;
}

/**
 * The inventory as the tethers ConfigMap holds it: every row when it fits, else as many as fit —
 * the rows that are not pivoted first, the summary whole.
 */
export function packTethers(snapshot: TetherSnapshot): Buffer {
  const rows = [...snapshot.tethers].sort((a, b) => Number(a.state === 'pivoted') - Number(b.state === 'pivoted'));
  for (let keep = rows.length; ; keep = Math.floor(keep / 2)) {
    const omitted = rows.length - keep;
    const packed = PackedConfigMap.pack({ ...snapshot, tethers: rows.slice(0, keep), ...(omitted ? { omitted } : {}) });
    if (packed) return packed;
    if (keep === 0) throw new CutoverError('inventory-too-large', 'the tether summary alone does not fit a ConfigMap');
  }
}

/** The cutover as the routes drive it (CutoverRequests: requests the controller takes, ADR 0021). */
export interface CutoverControl {
  /**
   * Starts a run, or answers 'already-complete'. Throws CutoverError 'in-progress' (409),
   * 'no-steps-found' (424), … — the routes map them, never catch them.
   */
  start(source: RunSource): Promise<'started' | 'already-complete'>;
  /** The tether inventory, at most `maxAgeMs` old. */
  tethers(maxAgeMs?: number): Promise<TetherSnapshot>;
  /** The last inventory taken, if any (never waits). */
  readonly lastTethers: TetherSnapshot | undefined;
  /** The ServiceAccount behind a bearer token (TokenReview), and whether the allow-list admits it. */
  reviewToken(token: string): Promise<{ username: string; allowed: boolean }>;
  /** After a sovereign-admin's sign-in: arm the auto trigger when it is on and not armed yet. */
  armAutoTrigger(username: string): Promise<boolean>;
  /**
   * `intake.mode: request`: approve the pending revision (undefined: whichever is pending), opening its
   * delivery window. Throws CutoverError 'intake-not-request', 'nothing-pending', 'stale-revision' (409).
   */
  approveIntake(by: string, revision?: string): Promise<IntakeWindow | undefined>;
  /**
   * Asks the running cutover to stop at its next safe point; returns who runs it. Throws CutoverError
   * 'nothing-running' (409) when nothing does.
   */
  abort(by: string): Promise<string>;
  /** What a rollback would undo now, one line per change (for the confirmation). */
  rollbackPlan(): Promise<Change[]>;
  /**
   * Requests a rollback from the journal (the controller runs it; its progress is in the status).
   * Throws CutoverError 'in-progress' (409) while a run or a rollback is under way or requested.
   */
  rollback(by: string): Promise<'started'>;
}

/** The status as the routes read it (StatusFeed): one poll, the run's replay, live events. */
export interface StatusSource {
  poll(): Promise<StatusData | undefined>;
  /** Why the last read failed, if it did. */
  readonly error: string | undefined;
  readonly replay: readonly FeedEvent[];
  on(event: 'event', listener: (e: FeedEvent) => void): unknown;
  off(event: 'event', listener: (e: FeedEvent) => void): unknown;
}

/** Operator sign-in (OidcLogin): where to send the browser, and the session its callback yields. */
export interface SignIn {
  begin(redirectURI: string, returnTo: string): Promise<{ url: string; pending: PendingLogin }>;
  finish(callbackURL: URL, pending: PendingLogin): Promise<Session>;
}
