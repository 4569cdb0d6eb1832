// The step catalogue against the contract: every step id has its code, in seed order, and a name
// that is not a step is refused (the compiler proves completeness; this proves the order and lookup).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { STEP_IDS, STEP_PHASES } from '../../src/core/contracts.ts';
import { CHAIN, stepNamed } from '../../src/steps/catalogue.ts';

test('the chain runs the eight steps in seed order', () => {
  assert.deepEqual(
    CHAIN.map((s) => s.id),
    [...STEP_IDS],
  );
  assert.equal(stepNamed('registry-pivot'), CHAIN[3]);
  assert.equal(stepNamed('frobnicate'), undefined);
  assert.equal(stepNamed('constructor'), undefined, 'an object key that is not a step');
});

test('01–03 run before the pivot, 04 is the pivot, 05–08 after it', () => {
  assert.deepEqual(
    STEP_IDS.map((id) => STEP_PHASES[id]),
    ['pre', 'pre', 'pre', 'pivot', 'post', 'post', 'post', 'post'],
  );
});
