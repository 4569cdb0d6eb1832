// The status ConfigMap contract: initial keys, progress, and the report the API and CLI print.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { nodeAckKey, nodeOfKey, nodeRegistryKey, STEP_IDS, stepKey } from '../../src/core/contracts.ts';
import { cutoverState, initialStatus, progressPercent, statusReport } from '../../src/core/status.ts';

test('the initial status has the seed keys, strings only, and four keys per step', () => {
  const data = initialStatus();
  assert.equal(Object.keys(data).length, 10 + 4 * STEP_IDS.length);
  assert.ok(Object.values(data).every((v) => typeof v === 'string'));
  assert.equal(data.cutoverComplete, 'false');
  assert.equal(data.registriesYamlActive, 'v1');
  assert.equal(data.totalSteps, '8');
  for (const step of STEP_IDS)
    for (const field of ['startedAt', 'finishedAt', 'result', 'jobName'] as const)
      assert.equal(data[`step.${step}.${field}`], '');
});

test('key builders spell the seed contract', () => {
  assert.equal(stepKey('gitea-mirror', 'result'), 'step.gitea-mirror.result');
  assert.equal(nodeAckKey('node-a'), 'node.node-a.registriesYaml');
  assert.equal(nodeRegistryKey('node-a'), 'node.node-a.registryHosts');
});

test('progress is floor(100·i/N), 100 with no steps', () => {
  assert.deepEqual(
    [0, 1, 3, 7, 8].map((i) => progressPercent(i, 8)),
    ['0', '12', '37', '87', '100'],
  );
  assert.equal(progressPercent(0, 0), '100');
});

test('the report: sovereign only when complete, empty fields left out, numbers parsed', () => {
  const data = {
    ...initialStatus(),
    currentStep: 'harbor-prewarm',
    currentStepIndex: '2',
    progressPercent: '25',
    [stepKey('gitea-mirror', 'result')]: 'success',
    [stepKey('gitea-mirror', 'jobName')]: 'cutover-gitea-mirror-1',
    [stepKey('harbor-projects', 'result')]: 'failed',
    failedStep: 'harbor-projects',
    lastError: 'POST … → 403',
  };
  const report = statusReport(data);
  assert.equal(report.state, 'tethered');
  assert.equal(report.cutoverComplete, false);
  assert.equal(report.currentStepIndex, 2);
  assert.equal(report.progressPercent, 25);
  assert.equal(report.failedStep, 'harbor-projects');
  assert.equal(report.cutoverStartedAt, undefined, 'empty strings are left out');
  assert.deepEqual(report.steps[0], { name: 'gitea-mirror', result: 'success', jobName: 'cutover-gitea-mirror-1' });
  assert.deepEqual(
    report.steps.map((s) => s.name),
    [...STEP_IDS],
  );
  assert.equal(cutoverState({ cutoverComplete: 'true' }), 'sovereign');
  assert.equal(statusReport({}).registriesYamlActive, 'v1', 'an empty ConfigMap reads as the initial state');
});

test('nodeOfKey names the node of a per-node status key, nothing else', () => {
  assert.equal(nodeOfKey('node.worker-1.registriesYaml'), 'worker-1');
  assert.equal(nodeOfKey('node.ip-10-0-0-1.ec2.internal.registryHosts'), 'ip-10-0-0-1.ec2.internal');
  assert.equal(nodeOfKey('step.gitea-mirror.result'), undefined);
  assert.equal(nodeOfKey('node.x.other'), undefined);
});
