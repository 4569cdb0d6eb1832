// The CLI against the lab cluster: bad values fail before anything is written; status reports; every
// command that prints objects prints JSON and YAML; kubectl's --context; status --watch.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { parse as parseYaml } from 'yaml';
import { mergePatch } from '../src/adapters/kube/cluster.ts';
import { eventually, kube, testNamespace } from './support/kube.ts';
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

test('-o json and -o yaml on every command that prints objects: the same document, parsed; --context picks a context or fails naming it', async () => {
  const namespace = await testNamespace('output', cleanups);
  const target = ['--kubeconfig', e.kube.kubeconfig, '-n', namespace];
  // The install's commands read the lab's Sovereign (plan and tethers only read), the rest a namespace of the test's.
  const install = ['--kubeconfig', e.kube.kubeconfig, '-n', 'catalyst', '-f', e.valuesFile];
  const commands: string[][] = [
    ['status', ...target],
    ['journal', ...target, '-f', e.valuesFile],
    ['plan', ...install],
    ['tethers', ...install],
    ['version'],
  ];
  for (const command of commands) {
    const json = run(...command, '-o', 'json');
    assert.equal(json.status, 0, `${command[0]}: ${json.stderr}`);
    const yaml = run(...command, '-o', 'yaml');
    assert.equal(yaml.status, 0, `${command[0]}: ${yaml.stderr}`);
    const document = JSON.parse(json.stdout) as object;
    // Volatile fields (a timestamp, a walk's counts) aside, both print one document with the same fields.
    assert.equal(typeof document, 'object', command[0]);
    assert.deepEqual(Object.keys(parseYaml(yaml.stdout) as object).sort(), Object.keys(document).sort(), command[0]);
  }
  const plan = JSON.parse(run('plan', ...install, '-o', 'json').stdout) as {
    steps: Array<{ step: string; changes: unknown[] }>;
  };
  assert.equal(plan.steps.length, 8);
  // --context: kubectl's meaning.
  assert.equal(run('status', ...target, '--context', 'sovereign-lab').status, 0);
  const wrong = run('status', ...target, '--context', 'no-such-context');
  assert.notEqual(wrong.status, 0);
  assert.match(wrong.stderr, /no-such-context/);
});

test('cutover status --watch prints again when the status changes, and stops on SIGTERM', async () => {
  const namespace = await testNamespace('watch', cleanups);
  await kube().core.createNamespacedConfigMap({
    namespace,
    body: { metadata: { name: 'self-sovereign-cutover-status' }, data: { cutoverComplete: 'false' } },
  });
  const child = spawn(process.execPath, [cli, 'status', '--watch', '--kubeconfig', e.kube.kubeconfig, '-n', namespace]);
  let out = '';
  child.stdout.on('data', (c: Buffer) => (out += c.toString()));
  const closed = new Promise<number | null>((resolve) => child.once('close', resolve));
  try {
    await eventually('the first report', async () => out.includes('state: tethered'), 20_000);
    await kube().core.patchNamespacedConfigMap(
      {
        name: 'self-sovereign-cutover-status',
        namespace,
        body: { data: { 'step.gitea-mirror.result': 'running', currentStep: 'gitea-mirror' } },
      },
      mergePatch,
    );
    await eventually(
      'a second report after the change',
      async () => /---[\s\S]*running +gitea-mirror/.test(out),
      20_000,
    );
  } finally {
    child.kill('SIGTERM');
  }
  assert.equal(await closed, 0, 'SIGTERM ends the watch cleanly');
});
