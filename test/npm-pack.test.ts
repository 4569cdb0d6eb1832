// The CLI as people install it: `npm pack` (its prepack compiles to dist/), installed into an empty
// prefix, run on Node.js 24 without the source tree — the same program as the sources (render's output
// is identical) — and refused with a clear message on a Node.js older than `engines` says.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { REPO_ROOT } from '../lab/topology.ts';
import { lab } from './support/lab.ts';

const dir = mkdtempSync(join(tmpdir(), 'npm-pack-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const npm = (...args: string[]) => {
  const r = spawnSync('npm', [...args, '--no-audit', '--no-fund', '--loglevel=error'], {
    cwd: REPO_ROOT,
    encoding: 'utf8',
  });
  assert.equal(r.status, 0, `npm ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
};
const sourceCli = join(REPO_ROOT, 'src/cli/main.ts');

test('npm pack installs into an empty prefix and runs on Node.js 24 without the sources; older Node.js is refused by name', () => {
  npm('pack', '--pack-destination', dir);
  const tarball = readdirSync(dir).find((f) => f.endsWith('.tgz'));
  assert.ok(tarball, 'a tarball');
  const prefix = join(dir, 'prefix');
  npm('install', '--prefix', prefix, '--omit=dev', '--prefer-offline', join(dir, tarball));
  const installed = join(prefix, 'node_modules/sovereign-cutover');
  const files = spawnSync('find', [installed, '-name', '*.ts', '-not', '-path', '*/node_modules/*'], {
    encoding: 'utf8',
  });
  assert.equal(files.stdout.trim(), '', 'no TypeScript source in the package');
  assert.ok(!existsSync(join(installed, 'src')), 'no source tree');
  const bin = join(prefix, 'node_modules/.bin/cutover');
  const run = (node: string, ...args: string[]) =>
    spawnSync(node, [bin, ...args], { encoding: 'utf8', env: { ...process.env, KUBECONFIG: '/nonexistent' } });

  const help = run(process.execPath, '--help');
  assert.equal(help.status, 0, help.stderr);
  assert.match(help.stdout, /Usage: cutover \[options\] \[command\]/);
  const version = JSON.parse(run(process.execPath, 'version', '-o', 'json').stdout) as Record<string, string>;
  const head = spawnSync('git', ['rev-parse', '--short=12', 'HEAD'], {
    cwd: REPO_ROOT,
    encoding: 'utf8',
  }).stdout.trim();
  assert.deepEqual(version, { version: version.version, commit: head, node: process.version });
  // The same program: the packed render equals the sources' render, byte for byte.
  const packed = run(process.execPath, 'render', '-f', lab().valuesFile);
  const source = spawnSync(process.execPath, [sourceCli, 'render', '-f', lab().valuesFile], { encoding: 'utf8' });
  assert.equal(packed.status, 0, packed.stderr);
  assert.equal(packed.stdout, source.stdout);
  assert.equal(run(process.execPath, 'completion', 'bash').status, 0);

  // Below `engines` (24.5: tls.setDefaultCACertificates), a clear refusal — not a stack trace.
  const old = join(dir, 'node22');
  npm('install', '--prefix', old, '--prefer-offline', 'node@22.12.0');
  const refused = run(join(old, 'node_modules/node/bin/node'), 'version');
  assert.equal(refused.status, 2, refused.stderr);
  assert.match(refused.stderr, /^cutover: cutover needs Node\.js 24\.5 or later .*; this is v22\.12\.0/);
});
