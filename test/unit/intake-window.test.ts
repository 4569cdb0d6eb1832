// `intake.mode: request` (ADR 0018) and the Sovereign condition, as pure functions of the status.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  afterLook,
  approve,
  AWAITING_APPROVAL,
  copiesAllowed,
  intakeWindow,
  INTAKE_WINDOW_KEY,
} from '../../src/core/intake-window.ts';
import { pinRecord } from '../../src/core/pin-status.ts';
import { sovereignCondition } from '../../src/core/sovereign-condition.ts';
import { parseValues } from '../../src/core/values.ts';

const base = `
sovereign: { harborInternalURL: 'http://harbor.test', harborPublicURL: 'https://harbor.test', giteaInternalURL: 'http://gitea.test' }
upstream: { repoURL: 'https://github.com/openova-io/openova.git' }
`;
const request = parseValues(`${base}intake: { mode: request, windowSeconds: 60 }\n`);
const auto = parseValues(base);
const OLD = 'a'.repeat(40);
const NEW = 'b'.repeat(40);
const t0 = new Date('2026-11-30T10:00:00Z');
const later = (s: number) => new Date(t0.getTime() + s * 1000);

/** A complete cutover whose radar read NEW with `pending`, Flux held at OLD. */
const heldAt = (pending: Array<{ ref: string; reason: string }>) => ({
  cutoverComplete: 'true',
  ...pinRecord({ revision: OLD, pins: 1, pending: [], verified: true }, t0),
  ...pinRecord(
    { revision: NEW, pins: 2, pending: pending.map((p) => ({ ...p, foundIn: 'x.yaml' })), verified: false },
    t0,
  ),
});

test('approve: only in request mode, only the pending revision, once per window', () => {
  const data = heldAt([{ ref: 'ghcr.io/a/b:2', reason: AWAITING_APPROVAL }]);
  assert.throws(() => approve(auto, data, 'ops', t0), /intake.mode is auto/);
  assert.throws(() => approve(request, { cutoverComplete: 'true' }, 'ops', t0), /has not read a revision/);
  assert.throws(() => approve(request, data, 'ops', t0, OLD), /is not the one pending; the mirror's head b{40} is/);
  const opened = approve(request, data, 'ops', t0, NEW)!;
  const w = intakeWindow(opened)!;
  assert.deepEqual(
    [w.revision, w.approvedBy, w.approvedAt, w.closesAt, w.outcome],
    [NEW, 'ops', t0.toISOString(), later(60).toISOString(), 'open'],
  );
  const withWindow = { ...data, ...opened };
  assert.equal(approve(request, withWindow, 'ops2', later(1)), undefined, 'a second approval is a no-op');
  assert.ok(copiesAllowed(request, withWindow, NEW, later(59)));
  assert.ok(!copiesAllowed(request, withWindow, NEW, later(60)), 'closed at its deadline');
  assert.ok(!copiesAllowed(request, withWindow, OLD, later(1)), 'for its revision only');
  assert.ok(!copiesAllowed(request, data, NEW, t0), 'nothing copied without an approval');
  assert.ok(copiesAllowed(auto, data, NEW, t0));
  const verified = { ...data, ...pinRecord({ revision: NEW, pins: 2, pending: [], verified: true }, t0) };
  assert.throws(() => approve(request, verified, 'ops', t0), /Flux already follows/);
});

test('a window records what each look copied and closes verified, expired or superseded', () => {
  const data = { ...heldAt([]), ...approve(request, heldAt([{ ref: 'r', reason: AWAITING_APPROVAL }]), 'ops', t0)! };
  const first = afterLook(data, NEW, { copied: ['ghcr.io/a/b:2'], verified: false }, later(5))!;
  assert.deepEqual(
    [first.outcome, first.copied, first.copiedCount, first.closedAt],
    ['open', ['ghcr.io/a/b:2'], 1, undefined],
  );
  const next = { ...data, [INTAKE_WINDOW_KEY]: JSON.stringify(first) };
  const done = afterLook(next, NEW, { copied: ['ghcr.io/a/c:1'], verified: true }, later(10))!;
  assert.deepEqual([done.outcome, done.copiedCount, done.closedAt], ['verified', 2, later(10).toISOString()]);
  assert.equal(afterLook(next, NEW, { copied: [], verified: false }, later(61))?.outcome, 'expired');
  assert.equal(afterLook(next, 'c'.repeat(40), { copied: ['x'], verified: false }, later(6))?.outcome, 'superseded');
  assert.equal(
    afterLook({ ...next, [INTAKE_WINDOW_KEY]: JSON.stringify(done) }, NEW, { copied: [], verified: true }, later(11)),
    undefined,
    'a closed window stays closed',
  );
});

test('the Sovereign condition says why it is not ready', () => {
  assert.deepEqual(
    [sovereignCondition({}).reason, sovereignCondition({ failedStep: 'harbor-prewarm' }).reason],
    ['Tethered', 'CutoverFailed'],
  );
  const held = sovereignCondition(heldAt([{ ref: 'ghcr.io/a/b:2', reason: 'upstream unreachable' }]));
  assert.deepEqual([held.status, held.reason], ['False', 'RevisionHeld']);
  assert.match(held.message, /1 pins of bbbbbbbbbbbb cannot be served locally; Flux is held at aaaaaaaaaaaa/);
  assert.equal(sovereignCondition(heldAt([{ ref: 'r', reason: AWAITING_APPROVAL }])).reason, 'AwaitingApproval');
  assert.equal(sovereignCondition(heldAt([])).reason, 'AwaitingApproval', 'nothing missing, but not approved');
  const ok = sovereignCondition({
    ...heldAt([]),
    ...pinRecord({ revision: NEW, pins: 2, pending: [], verified: true }, t0),
  });
  assert.deepEqual([ok.status, ok.reason], ['True', 'Sovereign']);
});
