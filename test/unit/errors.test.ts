// Secrets never reach a log, status or event: redaction and the peer error's message.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { PeerError, redact, redactUrl, withoutCredentials } from '../../src/core/errors.ts';

test('credentials in JSON bodies, auth headers and URLs are masked', () => {
  assert.equal(redact('{"password":"hunter2","name":"x"}'), '{"password":"***","name":"x"}');
  assert.equal(redact('{"access_token": "eyJ.abc"}'), '{"access_token": "***"}');
  assert.equal(redact('Authorization: Bearer eyJhbGciOi.x-y_z'), 'Authorization: Bearer ***');
  assert.equal(redact('Basic dXNlcjpwYXNz'), 'Basic ***');
  assert.equal(redactUrl('clone https://robot:tok@github.com/o/r.git'), 'clone https://***@github.com/o/r.git');
  assert.equal(withoutCredentials('https://robot:tok@github.com/o/r'), 'https://github.com/o/r');
});

test('credentials in query strings, form bodies, Gitea token headers and OIDC secrets are masked too', () => {
  const cases: Array<[string, string]> = [
    ['GET https://gitea/api/v1/repos?token=abc123&limit=5', 'GET https://gitea/api/v1/repos?token=***&limit=5'],
    ['https://h/x?a=1&access_token=eyJ.x-y', 'https://h/x?a=1&access_token=***'],
    ['grant_type=code&client_secret=s3cr3t&code=c', 'grant_type=code&client_secret=***&code=c'],
    ['{"client_secret":"s3cr3t"}', '{"client_secret":"***"}'],
    ['{"id_token":"eyJ"}', '{"id_token":"***"}'],
    ['https://s3/b/o?X-Amz-Signature=deadbeef', 'https://s3/b/o?X-Amz-Signature=***'],
    ['Authorization: token 0123456789abcdef', 'Authorization: token ***'],
    ['{"authorization":"token 0123456789abcdef"}', '{"authorization":"token ***"}'],
    ['pull https://robot$x:pass@harbor.local/v2/', 'pull https://***@harbor.local/v2/'],
  ];
  for (const [input, masked] of cases) assert.equal(redact(input), masked, input);
  // What is no credential stays readable.
  assert.equal(redact('?tokens=none&page=2 token bucket'), '?tokens=none&page=2 token bucket');
});

test('a PeerError says what was asked and what came back, without the secrets', () => {
  const error = new PeerError('POST', 'http://admin:pw@harbor.local/api/v2.0/projects', 403, '{"token":"abc"}');
  assert.equal(error.message, 'POST http://***@harbor.local/api/v2.0/projects → 403: {"token":"***"}');
  assert.ok(!error.message.includes('pw'));
  assert.equal(error.code, 'peer-error');
  assert.equal(new PeerError('GET', 'http://h/', 0, 'ECONNRESET').message, 'GET http://h/ → no answer: ECONNRESET');
});

test('5xx, 429 and no answer are transient; other statuses are verdicts', () => {
  const transient = (status: number) => new PeerError('GET', 'http://h/', status, '').transient;
  assert.deepEqual([0, 429, 500, 503].map(transient), [true, true, true, true]);
  assert.deepEqual([400, 401, 403, 404, 409].map(transient), [false, false, false, false, false]);
});
