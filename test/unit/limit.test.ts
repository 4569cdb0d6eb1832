// Bounded concurrency: the bound holds, waiting work goes by priority, and a failure stops the rest.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { forEachLimited, Limit } from '../../src/core/limit.ts';

test('forEachLimited never runs more than its bound at once, and runs every item', async () => {
  let running = 0;
  let peak = 0;
  const done: number[] = [];
  await forEachLimited([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 3, async (n) => {
    running++;
    peak = Math.max(peak, running);
    await sleep(5 + (n % 3) * 5);
    running--;
    done.push(n);
  });
  assert.equal(peak, 3);
  assert.deepEqual(
    done.sort((a, b) => a - b),
    [1, 2, 3, 4, 5, 6, 7, 8, 9, 10],
  );
});

test('after the first failure no further item starts; running work finishes, then the first failure is thrown', async () => {
  const started: number[] = [];
  const finished: number[] = [];
  await assert.rejects(
    forEachLimited([1, 2, 3, 4, 5, 6], 2, async (n) => {
      started.push(n);
      if (n === 1) throw new Error('item 1 failed');
      if (n === 3) throw new Error('item 3 failed');
      await sleep(20);
      finished.push(n);
    }),
    /item 1 failed/,
  );
  // 1 fails at once while 2 runs; nothing after it is handed out, and 2 was let finish.
  assert.deepEqual(started, [1, 2]);
  assert.deepEqual(finished, [2]);
});

test('Limit: waiting work of higher priority goes first; equal priority, first come', async () => {
  const limit = new Limit(1);
  const order: string[] = [];
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  const first = limit.run(() => gate);
  const rest = [
    limit.run(async () => void order.push('small-a'), 1),
    limit.run(async () => void order.push('big'), 100),
    limit.run(async () => void order.push('small-b'), 1),
  ];
  release();
  await Promise.all([first, ...rest]);
  assert.deepEqual(order, ['big', 'small-a', 'small-b']);
});
