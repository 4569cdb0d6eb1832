// The status feed's story: which seed event phases two reads of the status ConfigMap tell
// (eventsBetween, pure), and how the feed publishes and replays them over a plain in-memory reader.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { STEP_IDS, type StatusData } from '../../src/core/contracts.ts';
import { eventsBetween, StatusFeed, TERMINAL, type FeedEvent } from '../../src/http/status-feed.ts';

const T = '2026-01-01T00:00:00.000Z';
const phases = (events: FeedEvent[]) => events.map((e) => (e.step ? `${e.phase} ${e.step}` : e.phase));

test('nothing changed, nothing told', () => {
  assert.deepEqual(eventsBetween({}, {}, T), []);
  const data = {
    cutoverLastAttemptStartedAt: T,
    'step.gitea-mirror.result': 'running',
    'step.harbor-prewarm.progress': '3/9 artifacts',
    cutoverComplete: 'true',
  };
  assert.deepEqual(eventsBetween(data, { ...data }, T), []);
  assert.deepEqual(eventsBetween({ unrelated: 'a' }, { unrelated: 'b', currentStep: 'gitea-mirror' }, T), []);
});

test('a new attempt is cutover-started, naming the step count (totalSteps, else the chain)', () => {
  assert.deepEqual(eventsBetween({}, { cutoverLastAttemptStartedAt: T, totalSteps: '1' }, 'now'), [
    { time: 'now', phase: 'cutover-started', level: 'info', message: 'cutover started (1 steps)' },
  ]);
  const again = eventsBetween({ cutoverLastAttemptStartedAt: T }, { cutoverLastAttemptStartedAt: `${T}x` }, T);
  assert.deepEqual(again[0]?.message, `cutover started (${STEP_IDS.length} steps)`, 'a resumed attempt is a new one');
  assert.deepEqual(eventsBetween({ cutoverLastAttemptStartedAt: T }, { cutoverLastAttemptStartedAt: '' }, T), []);
  assert.deepEqual(eventsBetween({}, { cutoverStartedAt: T }, T), [], 'cutoverStartedAt alone is not an attempt');
});

test("a step's result: running → step-started, success → step-finished, failed → step-failed with the error", () => {
  const running = eventsBetween({}, { 'step.gitea-mirror.result': 'running' }, T);
  assert.deepEqual(running, [
    { time: T, step: 'gitea-mirror', phase: 'cutover-step-started', level: 'info', message: 'gitea-mirror started' },
  ]);
  assert.ok(!('jobName' in running[0]!), 'no jobName key without a Job');

  const withJob = { 'step.gitea-mirror.jobName': 'cutover-gitea-mirror-17' };
  assert.deepEqual(
    eventsBetween(
      { ...withJob, 'step.gitea-mirror.result': 'running' },
      { ...withJob, 'step.gitea-mirror.result': 'success' },
      T,
    ),
    [
      {
        time: T,
        step: 'gitea-mirror',
        jobName: 'cutover-gitea-mirror-17',
        phase: 'cutover-step-finished',
        level: 'info',
        message: 'gitea-mirror succeeded',
      },
    ],
  );

  const failed = (after: StatusData) =>
    eventsBetween({ 'step.registry-pivot.result': 'running' }, { 'step.registry-pivot.result': 'failed', ...after }, T);
  assert.deepEqual(failed({ lastError: 'registry-pivot: 1 of 2 nodes acked' }), [
    {
      time: T,
      step: 'registry-pivot',
      phase: 'cutover-step-failed',
      level: 'error',
      message: 'registry-pivot: 1 of 2 nodes acked',
    },
  ]);
  assert.equal(failed({})[0]?.message, 'registry-pivot failed', 'without lastError');
  assert.equal(failed({ lastError: '' })[0]?.message, 'registry-pivot failed', 'with an empty lastError');

  // A row going back to pending (a reset) and straight-to-terminal moves are told as they land.
  assert.deepEqual(eventsBetween({ 'step.gitea-mirror.result': 'success' }, { 'step.gitea-mirror.result': '' }, T), []);
  assert.deepEqual(phases(eventsBetween({}, { 'step.gitea-mirror.result': 'success' }, T)), [
    'cutover-step-finished gitea-mirror',
  ]);
  assert.deepEqual(phases(eventsBetween({ 'step.gitea-mirror.result': 'failed' }, {}, T)), []);
  assert.deepEqual(eventsBetween({}, { 'step.not-a-step.result': 'running' }, T), [], 'only the chain’s steps');
});

test('progress: a new `step.<name>.progress` value is cutover-step-progress', () => {
  const key = 'step.harbor-prewarm.progress';
  assert.deepEqual(eventsBetween({ [key]: '1/9' }, { [key]: '2/9' }, T), [
    { time: T, phase: 'cutover-step-progress', level: 'info', message: '2/9', step: 'harbor-prewarm' },
  ]);
  assert.deepEqual(eventsBetween({ [key]: '2/9' }, { [key]: '' }, T), [], 'cleared progress says nothing');
});

test('cutoverComplete turning true is cutover-completed, once', () => {
  assert.deepEqual(eventsBetween({ cutoverComplete: 'false' }, { cutoverComplete: 'true' }, T), [
    { time: T, phase: 'cutover-completed', level: 'info', message: 'cutover complete: the Sovereign is sovereign' },
  ]);
  assert.deepEqual(eventsBetween({}, { cutoverComplete: 'true' }, T).length, 1);
  assert.deepEqual(eventsBetween({ cutoverComplete: 'true' }, { cutoverComplete: 'true' }, T), []);
  assert.deepEqual(eventsBetween({ cutoverComplete: 'true' }, { cutoverComplete: 'false' }, T), []);
});

test('one read that moved a whole run: started, the steps in chain order, progress, completed', () => {
  const after: StatusData = { cutoverLastAttemptStartedAt: T, totalSteps: '8', cutoverComplete: 'true' };
  for (const step of [...STEP_IDS].reverse()) after[`step.${step}.result`] = 'success';
  after['step.egress-block-test.result'] = 'running';
  after['step.harbor-prewarm.progress'] = '9/9';
  assert.deepEqual(phases(eventsBetween({}, after, T)), [
    'cutover-started',
    ...STEP_IDS.slice(0, -1).map((s) => `cutover-step-finished ${s}`),
    'cutover-step-started egress-block-test',
    'cutover-step-progress harbor-prewarm',
    'cutover-completed',
  ]);
  assert.ok(eventsBetween({}, after, T).every((e) => e.time === T));
});

test('the stream ends on cutover-completed and cutover-step-failed only', () => {
  assert.deepEqual([...TERMINAL].sort(), ['cutover-completed', 'cutover-step-failed']);
});

test('the feed: the first read tells nothing, later reads publish the diff; a new run starts a new replay', async () => {
  let status: StatusData | Error = { cutoverComplete: 'false' };
  const feed = new StatusFeed({
    read: async () => {
      if (status instanceof Error) throw status;
      return status;
    },
  });
  const heard: FeedEvent[] = [];
  feed.on('event', (e) => heard.push(e));
  assert.deepEqual(await feed.poll(), { cutoverComplete: 'false' });
  assert.deepEqual(heard, []);

  status = { cutoverLastAttemptStartedAt: T, 'step.gitea-mirror.result': 'running' };
  await feed.poll();
  assert.deepEqual(phases(heard), ['cutover-started', 'cutover-step-started gitea-mirror']);
  assert.deepEqual(phases([...feed.replay]), phases(heard));

  status = new Error('configmaps is forbidden');
  assert.deepEqual(await feed.poll(), { cutoverLastAttemptStartedAt: T, 'step.gitea-mirror.result': 'running' });
  assert.equal(feed.error, 'configmaps is forbidden', 'a failed read keeps the last status and says why');

  status = { cutoverLastAttemptStartedAt: T, 'step.gitea-mirror.result': 'failed', lastError: 'no repo' };
  await feed.poll();
  assert.equal(feed.error, undefined);
  assert.deepEqual(feed.replay.at(-1)?.message, 'no repo');

  feed.publish({ time: T, phase: 'cutover-already-complete', level: 'info', message: 'already' });
  assert.equal(feed.replay.length, 4, 'announcements join the replay');
  status = { cutoverLastAttemptStartedAt: `${T}2` };
  await feed.poll();
  assert.deepEqual(phases([...feed.replay]), ['cutover-started'], 'a new attempt clears the replay');
  assert.equal(heard.length, 5);
});
