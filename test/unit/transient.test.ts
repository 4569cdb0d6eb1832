// The one transient-error rule: what the engine retries as a step and withRetries retries as a request.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CutoverError, isTransient, PeerError } from '../../src/core/errors.ts';

test('a PeerError is transient by its status: 5xx, 429 and no answer; other statuses are verdicts', () => {
  for (const status of [0, 429, 500, 502, 503])
    assert.equal(isTransient(new PeerError('GET', 'http://h/', status, '')), true);
  for (const status of [400, 401, 403, 404, 409])
    assert.equal(isTransient(new PeerError('GET', 'http://h/', status, '')), false);
  // Its status decides, not its words.
  assert.equal(isTransient(new PeerError('GET', 'http://h/', 404, 'socket hang up')), false);
});

test('our own errors are transient by their code alone', () => {
  assert.equal(isTransient(new CutoverError('transient', 'Job x exceeded its 60 s deadline')), true);
  assert.equal(isTransient(new CutoverError('canary-failed', 'did not start: {"terminated":{"exitCode":1}}')), false);
  assert.equal(isTransient(new CutoverError('acks-missing', 'ECONNRESET')), false);
});

test('timeouts and broken connections are transient, in the message or in its cause', () => {
  assert.equal(isTransient(new DOMException('The operation timed out.', 'TimeoutError')), true);
  for (const message of [
    'read ECONNRESET',
    'connect ECONNREFUSED 127.0.0.1:1',
    'write EPIPE',
    'socket hang up',
    'terminated',
  ])
    assert.equal(isTransient(new Error(message)), true, message);
  assert.equal(isTransient(new TypeError('fetch failed', { cause: new Error('connect ECONNREFUSED') })), true);
  assert.equal(isTransient(new Error('request failed', { cause: new Error('read ECONNRESET') })), true);
});

test('anything else is a verdict', () => {
  assert.equal(isTransient(new Error('values file not found')), false);
  assert.equal(isTransient(new DOMException('This operation was aborted', 'AbortError')), false);
  assert.equal(isTransient('ECONNRESET'), false, 'not an Error');
  assert.equal(isTransient(undefined), false);
});
