// The one poll helper: returns what it saw when done; a deadline or an abort ends it with an error
// that names the last state it saw.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CutoverError } from '../../src/core/errors.ts';
import { doubling, pollUntil } from '../../src/core/poll.ts';

test('pollUntil returns the first state that is done', async () => {
  let n = 0;
  const seen = await pollUntil(
    async () => ++n,
    (x) => x >= 3,
    { signal: AbortSignal.timeout(5_000), interval: 1, code: 'never', message: (x) => `stuck at ${x}` },
  );
  assert.equal(seen, 3);
  assert.equal(n, 3, 'no probe after the done one');
});

test('without a predicate, pollUntil waits for a value', async () => {
  let n = 0;
  const value = await pollUntil(async () => (++n === 2 ? 'ready' : undefined), {
    signal: AbortSignal.timeout(5_000),
    interval: 1,
    code: 'never',
    message: () => 'no value',
  });
  assert.equal(value, 'ready');
});

test('at the deadline it throws the caller’s code, naming the last observed state', async () => {
  let n = 0;
  const started = Date.now();
  await assert.rejects(
    pollUntil(
      async () => ({ replicas: ++n }),
      () => false,
      {
        signal: AbortSignal.timeout(100),
        interval: 10,
        code: 'rollout-stuck',
        message: (last) => `never rolled out (${last.replicas} seen)`,
      },
    ),
    (error: unknown) =>
      error instanceof CutoverError &&
      error.code === 'rollout-stuck' &&
      error.message === `never rolled out (${n} seen)` &&
      n > 1,
  );
  assert.ok(Date.now() - started < 2_000, 'the deadline cuts the pause short');
});

test('an abort ends a long pause at once; the probe still ran once', async () => {
  const controller = new AbortController();
  let probes = 0;
  setTimeout(() => controller.abort(new Error('lease lost')), 20);
  const started = Date.now();
  await assert.rejects(
    pollUntil(
      async () => ++probes,
      () => false,
      { signal: controller.signal, interval: 60_000, code: 'acks-missing', message: (last) => `after ${last} probes` },
    ),
    (error: unknown) =>
      error instanceof CutoverError &&
      error.code === 'acks-missing' &&
      error.message === 'after 2 probes' &&
      (error.cause as Error).message === 'lease lost',
  );
  assert.ok(Date.now() - started < 5_000);
  assert.equal(probes, 2, 'one probe, the aborted pause, one last look');
});

test('a probe that throws ends the poll with its error', async () => {
  await assert.rejects(
    pollUntil(
      async () => {
        throw new CutoverError('not-a-mirror', 'repo is not a mirror');
      },
      () => false,
      { signal: AbortSignal.timeout(5_000), interval: 1, code: 'never', message: () => '' },
    ),
    /repo is not a mirror/,
  );
});

test('wake replaces the timed pause (a watch), and is told the last state', async () => {
  const woken: number[] = [];
  let n = 0;
  const seen = await pollUntil(
    async () => ++n,
    (x) => x === 3,
    {
      signal: AbortSignal.timeout(5_000),
      wake: async (last) => void woken.push(last),
      code: 'never',
      message: () => '',
    },
  );
  assert.equal(seen, 3);
  assert.deepEqual(woken, [1, 2]);
});

test('doubling backs off from the first pause to the cap', () => {
  const pause = doubling(500, 5000);
  assert.deepEqual([0, 1, 2, 3, 4, 5].map(pause), [500, 1000, 2000, 4000, 5000, 5000]);
});
