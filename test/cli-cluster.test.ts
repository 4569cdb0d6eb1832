// The CLI against the lab cluster: bad values fail before anything is written; status reports.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { kube, testNamespace } from './support/kube.ts';
import { cleanupsAfterAll, lab } from './support/lab.ts';

const e = lab();
const cli = new URL('../src/cli/main.ts', import.meta.url).pathname;
const run = (...args: string[]) => spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8' });
const cleanups = cleanupsAfterAll();

test('invalid values: exit 2, every bad key named, and the cluster untouched', async () => {
  const namespace = await testNamespace('badvalues', cleanups);
  const dir = mkdtempSync(join(tmpdir(), 'values-'));
  cleanups.push(async () => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'values.yaml');
  writeFileSync(
    file,
    'sovereign:\n  harborInternalURL: not-a-url\nupstream:\n  repoURL: https://github.com/openova-io/openova\nharbor:\n  proxyProjectz: []\ntethers:\n  exempt:\n    - kind: imag\n      reason: a typo must not silently match nothing\n',
  );
  const r = run('run', '-f', file, '--kubeconfig', e.kube.kubeconfig, '-n', namespace);
  assert.equal(r.status, 2, r.stderr);
  assert.match(r.stderr, /sovereign\.harborInternalURL must be a URL/);
  assert.match(r.stderr, /harbor\.proxyProjectz is not a known key/);
  assert.match(r.stderr, /sovereign\.giteaInternalURL is required/);
  assert.match(r.stderr, /tethers\.exempt\[0\]\.kind must be one of image, env, configmap/);
  const configMaps = (await kube().core.listNamespacedConfigMap({ namespace })).items.map((c) => c.metadata?.name);
  assert.ok(!configMaps.includes('self-sovereign-cutover-status'), 'no status ConfigMap was created');
  assert.equal(run('run', '--kubeconfig', e.kube.kubeconfig).status, 2, 'no -f is a usage error');
});

test('cutover status -o json reports a tethered Sovereign with all eight steps', async () => {
  const namespace = await testNamespace('status', cleanups);
  const r = run('status', '-o', 'json', '--kubeconfig', e.kube.kubeconfig, '-n', namespace);
  assert.equal(r.status, 0, r.stderr);
  const report = JSON.parse(r.stdout) as { state: string; steps: Array<{ name: string }> };
  assert.equal(report.state, 'tethered');
  assert.equal(report.steps.length, 8);
});
