// `intake.mode: request` (ADR 0018): nothing is copied from upstream and Flux is let onto no new
// revision until an operator approves it. An approval opens a delivery window for that one revision,
// closed when every pin of it is local (Flux let on) or at its deadline. The last window — who
// approved what, when, what was copied, how long it was open — is one JSON key of the status
// ConfigMap; each decision is also a Kubernetes Event. Pure.
import { CutoverError } from './errors.ts';
import type { StatusData } from './contracts.ts';
import { pinStatus } from './pin-status.ts';
import type { Values } from './values.ts';

export const INTAKE_WINDOW_KEY = 'intakeWindow';

/** Why a pin that is not local was not copied: `request` mode without an open window. */
export const AWAITING_APPROVAL = 'not copied: awaiting approval (intake.mode: request)';

const MAX_LISTED = 50;

export interface IntakeWindow {
  revision: string;
  approvedBy: string;
  approvedAt: string;
  /** The deadline: copies stop and the window closes as `expired` if the revision is not verified by then. */
  closesAt: string;
  /** `superseded`: the mirror's head moved on while it was open (the new head needs its own approval). */
  outcome: 'open' | 'verified' | 'expired' | 'superseded';
  closedAt?: string;
  /** What was copied into the local Harbor while it was open (at most 50 listed; `copiedCount` has them all). */
  copied: string[];
  copiedCount: number;
}

export function intakeWindow(data: StatusData): IntakeWindow | undefined {
  try {
    const w = JSON.parse(data[INTAKE_WINDOW_KEY] || 'null') as IntakeWindow | null;
    return w?.revision ? w : undefined;
  } catch {
    return undefined; // a hand-edited value: as if no window was ever opened
  }
}

/** Whether copies for `revision` may run now: `auto`, or a `request` window open for it. */
export function copiesAllowed(values: Values, data: StatusData, revision: string, now: Date): boolean {
  if (values.intake.mode === 'auto') return true;
  const w = intakeWindow(data);
  return (
    values.intake.mode === 'request' && w?.outcome === 'open' && w.revision === revision && now < new Date(w.closesAt)
  );
}

/** The status patch that opens a window for an operator's approval; undefined when one is open for it already. */
export function approve(
  values: Values,
  data: StatusData,
  by: string,
  now: Date,
  revision?: string,
): Record<string, string> | undefined {
  if (values.intake.mode !== 'request')
    throw new CutoverError('intake-not-request', `intake.mode is ${values.intake.mode}: there is nothing to approve`);
  const pins = pinStatus(data);
  if (!pins) throw new CutoverError('nothing-pending', 'the pin radar has not read a revision yet');
  if (revision && revision !== pins.revision)
    throw new CutoverError(
      'stale-revision',
      `revision ${revision} is not the one pending; the mirror's head ${pins.revision} is`,
    );
  if (pins.verifiedRevision === pins.revision)
    throw new CutoverError('nothing-pending', `Flux already follows ${pins.revision}`);
  if (copiesAllowed(values, data, pins.revision, now)) return undefined;
  const window: IntakeWindow = {
    revision: pins.revision,
    approvedBy: by,
    approvedAt: now.toISOString(),
    closesAt: new Date(now.getTime() + values.intake.windowSeconds * 1000).toISOString(),
    outcome: 'open',
    copied: [],
    copiedCount: 0,
  };
  return { [INTAKE_WINDOW_KEY]: JSON.stringify(window) };
}

/**
 * The open window after one intake look at `revision`: what it copied added, closed as `verified`
 * when Flux was let on, `expired` past its deadline, `superseded` when it was for another revision;
 * undefined when no window is open.
 */
export function afterLook(
  data: StatusData,
  revision: string,
  look: { copied: string[]; verified: boolean },
  now: Date,
): IntakeWindow | undefined {
  const w = intakeWindow(data);
  if (w?.outcome !== 'open') return undefined;
  const ours = w.revision === revision;
  const copied = ours ? [...w.copied, ...look.copied] : w.copied;
  const outcome = !ours ? 'superseded' : look.verified ? 'verified' : now >= new Date(w.closesAt) ? 'expired' : 'open';
  return {
    ...w,
    copied: copied.slice(0, MAX_LISTED),
    copiedCount: w.copiedCount + (ours ? look.copied.length : 0),
    outcome,
    ...(outcome === 'open' ? {} : { closedAt: now.toISOString() }),
  };
}

/** One line: what the window did, for logs, Events and `cutover status`. */
export function windowSummary(w: IntakeWindow): string {
  const open = ((new Date(w.closedAt ?? Date.now()).getTime() - new Date(w.approvedAt).getTime()) / 1000).toFixed(0);
  const what = `${w.copiedCount} copied`;
  return w.outcome === 'open'
    ? `delivery window for ${w.revision.slice(0, 12)} open since ${w.approvedAt} (approved by ${w.approvedBy}, closes by ${w.closesAt}): ${what}`
    : `delivery window for ${w.revision.slice(0, 12)} approved by ${w.approvedBy} at ${w.approvedAt}, ${w.outcome} after ${open} s: ${what}`;
}
