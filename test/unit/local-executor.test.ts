// The local executor when a step is told to stop (deadline, SIGTERM, lost Lease): the caller hears
// at once that the step stopped, but only after the step's own cleanup ran (its `finally`: step
// 08's egress hold) — a process about to exit must not cut that short.
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { test } from 'node:test';
import type { Step } from '../../src/core/step.ts';
import { LocalExecutor } from '../../src/engine/local-executor.ts';

test('a stopped step’s cleanup runs to its end before the executor reports the stop', async () => {
  const events: string[] = [];
  const step = {
    id: 'egress-block-test',
    timeoutKey: 'egressBlockTestSeconds',
    plan: async () => [],
    async apply(ctx) {
      try {
        events.push('hold applied');
        await new Promise((_, reject) => ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason)));
      } finally {
        await sleep(200); // removing the hold takes a moment
        events.push('hold removed');
      }
    },
    verify: async () => assert.fail('never verified after a stop'),
  } as Step<unknown>;
  const stop = new AbortController();
  const run = new LocalExecutor<unknown>().execute(step, {
    values: {} as never,
    env: {},
    log: () => {},
    signal: stop.signal,
  });
  await sleep(20);
  stop.abort(new Error('stopped by SIGTERM'));
  await assert.rejects(run, /stopped by SIGTERM/);
  assert.deepEqual(events, ['hold applied', 'hold removed'], 'the cleanup finished first');
});
