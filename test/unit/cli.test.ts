import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';

const cli = new URL('../../src/cli/main.ts', import.meta.url).pathname;
const run = (...args: string[]) => spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8' });
const version = (
  JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }
).version;

test('cutover --version prints the package version', () => {
  const r = run('--version');
  assert.equal(r.status, 0);
  assert.equal(r.stdout.trim(), version);
});

test('cutover --help explains the product and how to start', () => {
  const r = run('--help');
  assert.equal(r.status, 0);
  assert.match(r.stdout, /^cutover \d+\.\d+\.\d+/);
  assert.match(r.stdout, /npm run demo/);
  assert.match(r.stdout, /npm test/);
});

test('cutover tethers --help and cutover prewarm --help teach the command (states, exemptions, exit codes)', () => {
  const tethers = run('tethers', '--help');
  assert.equal(tethers.status, 0);
  assert.match(tethers.stdout, /^cutover tethers /);
  for (const word of ['tethered', 'unmapped', 'pivoted', 'exempt:', 'reason:', 'Exit codes'])
    assert.ok(tethers.stdout.includes(word), word);
  const prewarm = run('prewarm', '--help');
  assert.equal(prewarm.status, 0);
  assert.match(prewarm.stdout, /^cutover prewarm -f values.yaml/);
  assert.match(prewarm.stdout, /by digest/);
});

test('an unknown command or option is a usage error (exit 2) naming what was wrong', () => {
  const command = run('frobnicate');
  assert.equal(command.status, 2);
  assert.match(command.stderr, /unknown command "frobnicate"/);
  const option = run('--frobnicate');
  assert.equal(option.status, 2);
  assert.match(option.stderr, /--frobnicate/);
});
