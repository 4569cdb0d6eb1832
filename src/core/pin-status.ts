// The pin radar's findings in the status ConfigMap (ADR 0017): which revision of the mirror was read,
// how many artifacts it pins, and each pin the local Harbor cannot serve, with why. Pure.
import type { StatusData } from './contracts.ts';

export const PIN_KEYS = {
  revision: 'pinsRevision',
  checkedAt: 'pinsCheckedAt',
  total: 'pinsTotal',
  /** JSON: PendingPin[] (at most MAX_LISTED; `pinsPendingCount` has the full count). */
  pending: 'pinsPending',
  pendingCount: 'pinsPendingCount',
  /** The last revision whose pins were all local: where Flux is held (ADR 0017). */
  verified: 'pinsVerifiedRevision',
} as const;

const MAX_LISTED = 50;

export interface PendingPin {
  ref: string;
  foundIn: string;
  reason: string;
}

/** What one intake look found and did (steps/pin-radar.ts). */
export interface PinReport {
  revision: string;
  /** Distinct artifacts the revision and the cluster pin. */
  pins: number;
  /** Copied into the local Harbor by this intake. */
  copied: string[];
  /** Not servable from the local Harbor, and why. */
  pending: PendingPin[];
  /** Every pin the revision's manifests name is local, so Flux was let onto it (the hold advanced). */
  verified: boolean;
  /** Every reference this look considered (an incremental look: the revision's and the watch's only). */
  looked: string[];
}

export interface PinStatus {
  revision: string;
  checkedAt: string;
  total: number;
  pendingCount: number;
  pending: PendingPin[];
  /** Where Flux is held: the last revision whose pins were all local ('' before the first). */
  verifiedRevision: string;
}

export function pinRecord(
  report: Pick<PinReport, 'revision' | 'pins' | 'pending' | 'verified'>,
  at: Date,
): Record<string, string> {
  return {
    ...(report.verified ? { [PIN_KEYS.verified]: report.revision } : {}),
    [PIN_KEYS.revision]: report.revision,
    [PIN_KEYS.checkedAt]: at.toISOString(),
    [PIN_KEYS.total]: String(report.pins),
    [PIN_KEYS.pending]: JSON.stringify(report.pending.slice(0, MAX_LISTED)),
    [PIN_KEYS.pendingCount]: String(report.pending.length),
  };
}

export function pinStatus(data: StatusData): PinStatus | undefined {
  const revision = data[PIN_KEYS.revision];
  if (!revision) return undefined;
  let pending: PendingPin[] = [];
  try {
    pending = JSON.parse(data[PIN_KEYS.pending] || '[]') as PendingPin[];
  } catch {
    // a hand-edited value: the count still says how many
  }
  return {
    revision,
    checkedAt: data[PIN_KEYS.checkedAt] ?? '',
    total: Number(data[PIN_KEYS.total]) || 0,
    pendingCount: Number(data[PIN_KEYS.pendingCount]) || pending.length,
    pending,
    verifiedRevision: data[PIN_KEYS.verified] ?? '',
  };
}
