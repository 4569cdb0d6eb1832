// The Sovereign's readiness as one condition a monitoring system can alert on (ADR 0018): sovereign,
// with its mirror keeping up and Flux on the mirror's head — or why not. Reported by the status API,
// `cutover status` and the metric `cutover_sovereign_ready{reason}`; never a pod's readiness (an
// unready API pod leaves its Service, and the operator loses the console exactly when it is needed). Pure.
import type { StatusData } from './contracts.ts';
import { AWAITING_APPROVAL } from './intake-window.ts';
import { mirrorHealth } from './mirror-health.ts';
import { pinStatus } from './pin-status.ts';

export interface SovereignCondition {
  type: 'Sovereign';
  status: 'True' | 'False';
  /** Sovereign, Tethered, CutoverFailed, MirrorDegraded, AwaitingApproval, RevisionHeld. */
  reason: string;
  message: string;
}

export function sovereignCondition(data: StatusData): SovereignCondition {
  const no = (reason: string, message: string): SovereignCondition => ({
    type: 'Sovereign',
    status: 'False',
    reason,
    message,
  });
  if (data.cutoverComplete !== 'true')
    return data.failedStep
      ? no('CutoverFailed', `the cutover failed at ${data.failedStep}`)
      : no('Tethered', 'the cutover has not completed');
  const mirror = mirrorHealth(data);
  if (mirror?.degraded) return no('MirrorDegraded', mirror.summary);
  const pins = pinStatus(data);
  if (pins && pins.revision !== pins.verifiedRevision) {
    const held = `Flux is held at ${pins.verifiedRevision.slice(0, 12) || 'the revision it had'}`;
    const unservable = pins.pending.filter((p) => p.reason !== AWAITING_APPROVAL).length;
    return unservable
      ? no('RevisionHeld', `${unservable} pins of ${pins.revision.slice(0, 12)} cannot be served locally; ${held}`)
      : no('AwaitingApproval', `revision ${pins.revision.slice(0, 12)} awaits an operator's approval; ${held}`);
  }
  return { type: 'Sovereign', status: 'True', reason: 'Sovereign', message: 'sovereign; Flux follows the mirror' };
}
