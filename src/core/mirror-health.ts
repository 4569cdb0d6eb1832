// The Git mirror's health after the cutover: is the Sovereign's Gitea mirror keeping up with upstream?
// Gitea's API cannot say: its `mirror_updated` moves on every sync attempt, failed ones included
// (`TouchMirror`), and a pull mirror's errors go to admin notices, which the API does not serve. So the
// cutover looks itself: the mirror's branch head against upstream's. `mirrorSyncedAt` is the last time
// the two were seen equal; its age is how far behind the Sovereign may be (ADR 0016).
import type { StatusData } from './contracts.ts';

export const MIRROR_KEYS = {
  checkedAt: 'mirrorCheckedAt',
  syncedAt: 'mirrorSyncedAt',
  head: 'mirrorHead',
  upstreamHead: 'mirrorUpstreamHead',
  lastError: 'mirrorLastError',
  /** The values' threshold, kept beside the figures so every reader judges alike. */
  maxAgeSeconds: 'mirrorMaxAgeSeconds',
} as const;

/** One look at both heads; a side that could not be read has `error` (redacted by the caller). */
export interface MirrorObservation {
  at: Date;
  head?: string | undefined;
  upstreamHead?: string | undefined;
  error?: string | undefined;
}

/** What one look writes to the status ConfigMap. A head that could not be read keeps its last value. */
export function mirrorRecord(data: StatusData, o: MirrorObservation, maxAgeSeconds: number): Record<string, string> {
  const inStep = Boolean(o.head) && o.head === o.upstreamHead && !o.error;
  return {
    [MIRROR_KEYS.checkedAt]: o.at.toISOString(),
    [MIRROR_KEYS.head]: o.head ?? data[MIRROR_KEYS.head] ?? '',
    [MIRROR_KEYS.upstreamHead]: o.upstreamHead ?? data[MIRROR_KEYS.upstreamHead] ?? '',
    [MIRROR_KEYS.syncedAt]: inStep ? o.at.toISOString() : (data[MIRROR_KEYS.syncedAt] ?? ''),
    [MIRROR_KEYS.lastError]: o.error ?? '',
    [MIRROR_KEYS.maxAgeSeconds]: String(maxAgeSeconds),
  };
}

export interface MirrorHealth {
  /** Last time the mirror was seen on upstream's head ('' = never). */
  syncedAt: string;
  checkedAt: string;
  /** Seconds since `syncedAt` (since the first check when it never was). */
  ageSeconds: number;
  head: string;
  upstreamHead: string;
  /** Why the last check could not compare the heads ('' when it could). */
  lastError: string;
  /** Older than `maxAgeSeconds`: the Sovereign reports itself degraded. */
  degraded: boolean;
  maxAgeSeconds: number;
  /** One line for people (`cutover status`, the console). */
  summary: string;
}

/** The mirror's health from the status, or undefined before the first check. */
export function mirrorHealth(data: StatusData, now = new Date()): MirrorHealth | undefined {
  const checkedAt = data[MIRROR_KEYS.checkedAt];
  if (!checkedAt) return undefined;
  const maxAgeSeconds = Number(data[MIRROR_KEYS.maxAgeSeconds]) || 0;
  const syncedAt = data[MIRROR_KEYS.syncedAt] ?? '';
  const since = Date.parse(syncedAt || (data.cutoverFinishedAt ?? checkedAt));
  const ageSeconds = Math.max(0, Math.round((now.getTime() - (Number.isFinite(since) ? since : now.getTime())) / 1000));
  const health = {
    syncedAt,
    checkedAt,
    ageSeconds,
    head: data[MIRROR_KEYS.head] ?? '',
    upstreamHead: data[MIRROR_KEYS.upstreamHead] ?? '',
    lastError: data[MIRROR_KEYS.lastError] ?? '',
    degraded: maxAgeSeconds > 0 && ageSeconds > maxAgeSeconds,
    maxAgeSeconds,
  };
  return { ...health, summary: mirrorSummary(health) };
}

function mirrorSummary(h: Omit<MirrorHealth, 'summary'>): string {
  const age = h.ageSeconds < 120 ? `${h.ageSeconds} s` : `${Math.round(h.ageSeconds / 60)} min`;
  const state = h.head && h.head === h.upstreamHead ? `on upstream's head ${h.head.slice(0, 12)}` : 'behind upstream';
  const last = h.syncedAt ? `last in step ${age} ago` : `never seen in step (${age})`;
  return `${h.degraded ? 'DEGRADED: ' : ''}Git mirror ${state}; ${last}${h.lastError ? `; last check: ${h.lastError}` : ''}`;
}
