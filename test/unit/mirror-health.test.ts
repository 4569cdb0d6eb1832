// The mirror health's arithmetic (pure): what a look writes, how old the mirror is, when it is degraded.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MIRROR_KEYS, mirrorHealth, mirrorRecord } from '../../src/core/mirror-health.ts';

const a = 'a'.repeat(40);
const b = 'b'.repeat(40);
const at = new Date('2026-11-30T10:00:00Z');

test('a look on the same head records the sync; a look behind or failing keeps the last one', () => {
  const inStep = mirrorRecord({}, { at, head: a, upstreamHead: a }, 600);
  assert.equal(inStep[MIRROR_KEYS.syncedAt], at.toISOString());
  assert.equal(inStep[MIRROR_KEYS.lastError], '');
  const later = new Date(at.getTime() + 60_000);
  const behind = mirrorRecord(inStep, { at: later, head: a, upstreamHead: b }, 600);
  assert.equal(behind[MIRROR_KEYS.syncedAt], at.toISOString(), 'not in step: the last sync stays');
  assert.equal(behind[MIRROR_KEYS.checkedAt], later.toISOString());
  const failed = mirrorRecord(behind, { at: later, head: a, error: 'upstream: no answer' }, 600);
  assert.equal(failed[MIRROR_KEYS.upstreamHead], b, 'a head that could not be read keeps its last value');
  assert.equal(failed[MIRROR_KEYS.lastError], 'upstream: no answer');
  assert.equal(failed[MIRROR_KEYS.syncedAt], at.toISOString());
});

test('health: age from the last sync, degraded only past the threshold; nothing before the first look', () => {
  assert.equal(mirrorHealth({}), undefined);
  const data = mirrorRecord({}, { at, head: a, upstreamHead: a }, 600);
  const fresh = mirrorHealth(data, new Date(at.getTime() + 600_000));
  assert.equal(fresh?.ageSeconds, 600);
  assert.equal(fresh?.degraded, false);
  assert.match(fresh?.summary ?? '', /^Git mirror on upstream's head a{12}; last in step 10 min ago$/);
  const stale = mirrorHealth(
    mirrorRecord(data, { at, head: a, upstreamHead: b }, 600),
    new Date(at.getTime() + 601_000),
  );
  assert.equal(stale?.degraded, true);
  assert.match(stale?.summary ?? '', /^DEGRADED: Git mirror behind upstream; last in step 10 min ago$/);
  // Never seen in step since the cutover: the age counts from the cutover's end.
  const never = mirrorHealth(
    { ...mirrorRecord({}, { at, error: 'gitea: 401' }, 600), cutoverFinishedAt: at.toISOString() },
    new Date(at.getTime() + 30_000),
  );
  assert.equal(never?.ageSeconds, 30);
  assert.match(never?.summary ?? '', /never seen in step \(30 s\); last check: gitea: 401$/);
});
