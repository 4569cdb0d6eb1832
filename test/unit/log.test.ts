// The long-running commands' log: JSON lines through pino (a pod's default) or text lines, at a level,
// every line redacted on its way out.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';

const logModule = new URL('../../src/cli/log.ts', import.meta.url).href;
/** What a process logging these lines prints (stdout, stderr). */
function logged(flags: string, env: Record<string, string> = {}) {
  const script = `import(${JSON.stringify(logModule)}).then(({ createLog }) => {
    const log = createLog(${flags}, 'controller');
    log('took the start request of https://admin:hunter2@git.example/repo');
    log.debug('a detail');
    log.warn('the mirror is behind');
  });`;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
    encoding: 'utf8',
    env: { ...process.env, KUBERNETES_SERVICE_HOST: '', ...env },
  });
  assert.equal(r.status, 0, r.stderr);
  return { out: r.stdout, err: r.stderr };
}

test('json: one JSON object per line with level, ISO time, component and the redacted message; debug below info is dropped', () => {
  const lines = logged("{ logFormat: 'json' }")
    .out.trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Record<string, string>);
  assert.deepEqual(
    lines.map((l) => [l.level, l.component, l.msg]),
    [
      ['info', 'controller', 'took the start request of https://***@git.example/repo'],
      ['warn', 'controller', 'the mirror is behind'],
    ],
  );
  assert.ok(lines.every((l) => !Number.isNaN(Date.parse(l.time ?? ''))));
});

test('the default is JSON in a pod and text elsewhere; text keeps the lines a person reads; --log-level debug shows more', () => {
  assert.doesNotThrow(() =>
    JSON.parse(logged('{}', { KUBERNETES_SERVICE_HOST: '10.96.0.1' }).out.split('\n')[0] ?? ''),
  );
  const text = logged("{ logLevel: 'debug' }");
  assert.equal(
    text.out,
    'took the start request of https://***@git.example/repo\na detail\n'.replace('a detail', 'DEBUG a detail'),
  );
  assert.equal(text.err, 'WARN the mirror is behind\n');
  assert.equal(logged("{ logLevel: 'warn' }").out, '', 'info and debug below warn are dropped');
});
