// The engine against the real apiserver: status ConfigMap contract, single flight by Lease,
// resume of its own `running` rows, skip of passed steps, bounded retries of transient failures,
// and completion only when every required step ran and the nodes were pivoted.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { connect, createServer as createNetServer, type AddressInfo, type Socket } from 'node:net';
import { test } from 'node:test';
import { KubeConfig } from '@kubernetes/client-node';
import { KubeCluster, mergePatch, microTime } from '../src/adapters/kube/cluster.ts';
import { CutoverError, PeerError } from '../src/core/errors.ts';
import { recheckKey, STEP_IDS, stepKey, type StepId } from '../src/core/contracts.ts';
import type { Step } from '../src/core/step.ts';
import { parseValues } from '../src/core/values.ts';
import { ABORT_KEYS, Engine, type EngineEvent, type EngineOptions } from '../src/engine/engine.ts';
import { LocalExecutor } from '../src/engine/local-executor.ts';
import { SingleFlight } from '../src/engine/single-flight.ts';
import { StatusStore } from '../src/adapters/kube/status-store.ts';
import { eventually, testNamespace } from './support/kube.ts';
import { cleanupsAfterAll, lab } from './support/lab.ts';
import { readFileSync } from 'node:fs';

const e = lab();
const cluster = KubeCluster.connect(e.kube.kubeconfig);
const values = parseValues(readFileSync(e.valuesFile, 'utf8'));
const cleanups = cleanupsAfterAll();

/** A step that records its applies; `fail` decides per attempt. */
function recordingStep(id: StepId, runs: string[], fail?: (attempt: number) => Error | undefined): Step<object> {
  let attempt = 0;
  return {
    id,
    timeoutKey: 'harborProjectsSeconds',
    plan: async () => [],
    apply: async () => {
      attempt++;
      runs.push(id);
      const error = fail?.(attempt);
      if (error) throw error;
    },
    verify: async () => {},
  };
}

function engine(
  namespace: string,
  steps: Step<object>[],
  required: readonly string[] = steps.map((s) => s.id),
  extra: Partial<EngineOptions<object>> = {},
) {
  const store = new StatusStore(cluster, namespace, values.status.configMapName);
  const eng = new Engine<object>({
    values,
    env: {},
    steps,
    requiredSteps: required,
    store,
    lease: new SingleFlight(cluster, namespace, `test-${Math.random().toString(16).slice(2)}`),
    executor: new LocalExecutor(),
    log: () => {},
    retryDelayMs: 10,
    ...extra,
  });
  return { eng, store };
}

test('a full chain records every step per the status contract and completes only with registriesYamlActive=v2', async () => {
  const namespace = await testNamespace('engine', cleanups);
  const runs: string[] = [];
  const { eng, store } = engine(
    namespace,
    STEP_IDS.map((id) => recordingStep(id, runs)),
  );
  const events: EngineEvent[] = [];
  eng.on('event', (ev) => events.push(ev));
  assert.equal((await eng.run()).result, 'completed');
  assert.deepEqual(runs, [...STEP_IDS]);
  const data = (await store.read())!;
  assert.equal(data.cutoverComplete, 'true');
  assert.equal(data.registriesYamlActive, 'v2', 'flipped before registry-pivot');
  assert.equal(data.progressPercent, '100');
  assert.equal(data.totalSteps, '8');
  assert.match(data.cutoverStartedAt ?? '', /^\d{4}-/);
  for (const id of STEP_IDS) {
    assert.equal(data[stepKey(id, 'result')], 'success', id);
    assert.ok(data[stepKey(id, 'finishedAt')], id);
  }
  assert.deepEqual(
    events.map((ev) => ev.phase).filter((p, i, a) => a.indexOf(p) === i),
    ['cutover-started', 'cutover-step-started', 'cutover-step-finished', 'cutover-completed'],
  );
  // Every value is a string (a ConfigMap's data is strings only).
  assert.ok(Object.values(data).every((v) => typeof v === 'string'));

  const again = await engine(
    namespace,
    STEP_IDS.map((id) => recordingStep(id, runs)),
  ).eng.run();
  assert.equal(again.result, 'already-complete');
  assert.equal(runs.length, STEP_IDS.length, 'nothing ran again');
});

test('a genuine failure stops the chain with failedStep and a redacted lastError; a rerun skips what passed', async () => {
  const namespace = await testNamespace('engine-fail', cleanups);
  const runs: string[] = [];
  const secretUrl = 'http://robot:hunter2@harbor.local/api';
  const steps = [
    recordingStep('gitea-mirror', runs),
    recordingStep('harbor-projects', runs, () => new PeerError('POST', secretUrl, 403, '{"password":"hunter2"}')),
    recordingStep('harbor-prewarm', runs),
  ];
  const { eng, store } = engine(namespace, steps);
  const outcome = await eng.run();
  assert.equal(outcome.result, 'failed');
  assert.equal(outcome.failedStep, 'harbor-projects');
  assert.deepEqual(runs, ['gitea-mirror', 'harbor-projects'], 'a 403 is not retried and the chain stops');
  const data = (await store.read())!;
  assert.equal(data.failedStep, 'harbor-projects');
  assert.equal(data[stepKey('harbor-projects', 'result')], 'failed');
  assert.equal(data.cutoverComplete, 'false');
  assert.ok(!data.lastError?.includes('hunter2'), `no secret in lastError: ${data.lastError}`);
  assert.match(data.lastError ?? '', /403/);

  const fixed = [
    recordingStep('gitea-mirror', runs),
    recordingStep('harbor-projects', runs),
    recordingStep('harbor-prewarm', runs),
  ];
  // A chain that lacks steps (a missing step ConfigMap) is refused before any step runs.
  const partial = await engine(namespace, fixed, STEP_IDS).eng.run();
  assert.equal(partial.result, 'failed', 'the chain is incomplete without the other five steps');
  assert.match(partial.error ?? '', /lacks step\(s\) registry-pivot.*nothing was run/);
  assert.deepEqual(runs.slice(2), [], 'no step ran');
  assert.equal((await store.read())!.currentStep, '');

  const rerun = await engine(namespace, fixed).eng.run();
  assert.deepEqual(runs.slice(2), ['harbor-projects', 'harbor-prewarm'], 'gitea-mirror was already success');
  assert.equal(rerun.result, 'failed', 'never pivoted: registriesYamlActive is not v2');
  assert.equal((await store.read())!.cutoverComplete, 'false');
});

test('transient failures are retried with a bound', async () => {
  const namespace = await testNamespace('engine-retry', cleanups);
  const runs: string[] = [];
  const flaky = recordingStep('gitea-mirror', runs, (attempt) =>
    attempt < 3 ? new PeerError('GET', 'http://gitea', 503, 'unavailable') : undefined,
  );
  const { eng } = engine(namespace, [flaky]);
  await eng.run();
  assert.equal(runs.length, 3, 'two 503s, then success');
  const always = recordingStep('gitea-mirror', [], () => new PeerError('GET', 'http://gitea', 0, 'ECONNRESET'));
  const namespace2 = await testNamespace('engine-retry2', cleanups);
  const outcome = await engine(namespace2, [always]).eng.run();
  assert.equal(outcome.result, 'failed');
});

test('single flight: a second engine while one runs is refused as in progress; running rows of a dead engine are resumed', async () => {
  const namespace = await testNamespace('engine-lease', cleanups);
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  const slow: Step<object> = { ...recordingStep('gitea-mirror', []), apply: async () => gate };
  const first = engine(namespace, [slow]).eng.run();
  await new Promise((r) => setTimeout(r, 300));
  await assert.rejects(
    engine(namespace, [recordingStep('gitea-mirror', [])]).eng.run(),
    (err: unknown) => err instanceof CutoverError && err.code === 'in-progress',
  );
  release();
  await first;

  // A dead engine leaves a `running` row and an expired lease; the next engine resets and reruns it.
  const namespace2 = await testNamespace('engine-resume', cleanups);
  const store = new StatusStore(cluster, namespace2, values.status.configMapName);
  await store.ensure();
  await store.patch({ [stepKey('gitea-mirror', 'result')]: 'running', currentStep: 'gitea-mirror' });
  const runs: string[] = [];
  await engine(namespace2, [recordingStep('gitea-mirror', runs)]).eng.run();
  assert.deepEqual(runs, ['gitea-mirror']);
  assert.equal((await store.read())![stepKey('gitea-mirror', 'result')], 'success');
});

test('an engine that loses its Lease to another stops its step at once and writes no verdict', async () => {
  const namespace = await testNamespace('engine-lost', cleanups);
  const step: Step<object> = { ...recordingStep('gitea-mirror', []), apply: () => new Promise(() => {}) };
  const { eng, store } = engine(namespace, [step]);
  const run = eng.run();
  await new Promise((r) => setTimeout(r, 1000));
  // Another engine takes the Lease over (as after an outage longer than the lease).
  await cluster.coordination.patchNamespacedLease(
    {
      name: 'self-sovereign-cutover',
      namespace,
      body: { spec: { holderIdentity: 'intruder', renewTime: microTime(new Date()) } },
    },
    mergePatch,
  );
  await assert.rejects(run, (err: unknown) => err instanceof CutoverError && err.code === 'lease-lost');
  const data = (await store.read())!;
  assert.equal(data[stepKey('gitea-mirror', 'result')], 'running', "no failure written over the new holder's run");
  assert.equal(data.failedStep, '');
});

test('a rerun re-verifies every success step that can tell, and runs a drifted one again (a drift it cannot read counts as drift)', async () => {
  const namespace = await testNamespace('engine-drift', cleanups);
  const runs: string[] = [];
  const drift: Partial<Record<StepId, () => Promise<Array<{ action: string; target: string; detail?: string }>>>> = {};
  const canTell: string[] = ['registry-pivot', 'flux-gitrepository-patch', 'catalyst-api-env-patch'];
  const chain = () =>
    STEP_IDS.map((id) => ({
      ...recordingStep(id, runs),
      ...(canTell.includes(id) ? { drift: () => drift[id]?.() ?? Promise.resolve([]) } : {}),
    }));
  const first = engine(namespace, chain());
  const { store } = first;
  assert.equal((await first.eng.run()).result, 'completed');
  assert.equal(runs.length, 8);

  // Nothing drifted: nothing runs, and the re-verification is on record.
  assert.equal((await engine(namespace, chain()).eng.run()).result, 'already-complete');
  assert.equal(runs.length, 8, 'nothing ran again');
  let data = (await store.read())!;
  for (const id of canTell) assert.match(data[recheckKey(id, 'recheckedAt')] ?? '', /^\d{4}-/, id);
  assert.equal(
    data[recheckKey('gitea-mirror', 'recheckedAt')],
    undefined,
    'a step that cannot tell is not re-verified',
  );

  // A guard pass when nothing drifted writes nothing (it runs every period; the status would churn).
  const before = await store.readVersioned();
  assert.equal((await engine(namespace, chain()).eng.run({ guard: true })).result, 'already-complete');
  assert.equal((await store.readVersioned())?.version, before?.version, 'the guard wrote nothing');
  assert.equal(runs.length, 8);

  // Flux put the upstream URL back: that step, and only it, runs again; the cutover stays complete.
  drift['catalyst-api-env-patch'] = async () => [
    { action: 'set', target: 'Deployment catalyst-system/catalyst-api', detail: 'X=http://robot:hunter2@upstream' },
  ];
  drift['registry-pivot'] = async () => {
    throw new Error('agents unreadable');
  };
  const repaired = await engine(namespace, chain()).eng.run();
  assert.equal(repaired.result, 'completed');
  assert.deepEqual(runs.slice(8).sort(), ['catalyst-api-env-patch', 'registry-pivot']);
  data = (await store.read())!;
  assert.equal(data.cutoverComplete, 'true');
  assert.match(data[recheckKey('catalyst-api-env-patch', 'repairedAt')] ?? '', /^\d{4}-/);
  assert.match(data[recheckKey('catalyst-api-env-patch', 'drift')] ?? '', /Deployment catalyst-system\/catalyst-api/);
  assert.ok(!data[recheckKey('catalyst-api-env-patch', 'drift')]?.includes('hunter2'), 'no secret in the status');
  assert.match(data[recheckKey('registry-pivot', 'drift')] ?? '', /could not be read: agents unreadable/);
  assert.equal(data[recheckKey('flux-gitrepository-patch', 'repairedAt')], undefined, 'what held was not re-run');
  assert.equal(data[stepKey('catalyst-api-env-patch', 'result')], 'success');
});

test('a run that skips TLS verification for a host says so in status, and cutover status warns', async () => {
  const namespace = await testNamespace('engine-insecure', cleanups);
  const insecure = structuredClone(values);
  insecure.tls.hosts = [{ host: 'harbor.internal:443', caBundle: '', insecureSkipVerify: true }];
  const eng = new Engine<object>({
    values: insecure,
    env: {},
    steps: [recordingStep('gitea-mirror', [])],
    store: new StatusStore(cluster, namespace, values.status.configMapName),
    lease: new SingleFlight(cluster, namespace, 'insecure-test'),
    executor: new LocalExecutor(),
    log: () => {},
  });
  await eng.run();
  const data = (await new StatusStore(cluster, namespace, values.status.configMapName).read())!;
  assert.equal(data.tlsUnverifiedHosts, 'harbor.internal:443');
  const shown = spawnSync(
    process.execPath,
    [
      new URL('../src/cli/main.ts', import.meta.url).pathname,
      'status',
      '--kubeconfig',
      e.kube.kubeconfig,
      '-n',
      namespace,
    ],
    { encoding: 'utf8' },
  );
  assert.match(shown.stdout, /WARNING: TLS verification is OFF for harbor\.internal:443/);
});

test('an operator abort (a status request, from any process) stops the running step at its next safe point: failed there, who aborted recorded, currentStep cleared, the Lease free', async () => {
  const namespace = await testNamespace('engine-abort', cleanups);
  const cleanedUp: string[] = [];
  const waiting: Step<object> = {
    id: 'harbor-prewarm',
    timeoutKey: 'harborProjectsSeconds',
    plan: async () => [],
    // Runs until told to stop, then cleans up (as step 08 removes its hold).
    apply: ({ signal }) =>
      new Promise((_, reject) =>
        signal.addEventListener('abort', () => {
          cleanedUp.push('harbor-prewarm');
          reject(signal.reason as Error);
        }),
      ),
    verify: async () => {},
  };
  const runs: string[] = [];
  const { eng, store } = engine(
    namespace,
    [recordingStep('gitea-mirror', runs), waiting, recordingStep('registry-pivot', runs)],
    undefined,
    {
      abortPollMs: 200,
    },
  );
  const running = eng.run();
  await eventually('the step to run', async () => (await store.read())?.currentStep === 'harbor-prewarm');
  const requested = performance.now();
  await store.patch({
    [ABORT_KEYS.requestedAt]: new Date().toISOString(),
    [ABORT_KEYS.requestedBy]: 'alice@example.com',
  });
  const outcome = await running;
  console.log(`# abort honoured ${((performance.now() - requested) / 1000).toFixed(1)} s after the request`);
  assert.equal(outcome.result, 'failed');
  assert.equal(outcome.failedStep, 'harbor-prewarm');
  assert.match(outcome.error ?? '', /aborted by alice@example\.com/);
  assert.deepEqual(cleanedUp, ['harbor-prewarm'], 'the step was told to stop and cleaned up');
  assert.deepEqual(runs, ['gitea-mirror'], 'nothing after it ran');
  const data = (await store.read())!;
  assert.equal(data.failedStep, 'harbor-prewarm');
  assert.equal(data.currentStep, '');
  assert.equal(data[ABORT_KEYS.by], 'alice@example.com');
  assert.match(data[ABORT_KEYS.at] ?? '', /^\d{4}-/);
  // The Lease is free: a new run starts at once, un-aborted (the old request is history), and finishes.
  const retry = await engine(namespace, [
    recordingStep('gitea-mirror', runs),
    recordingStep('harbor-prewarm', runs),
    recordingStep('registry-pivot', runs),
  ]).eng.run();
  assert.equal(retry.result, 'completed');
  assert.deepEqual(runs, ['gitea-mirror', 'harbor-prewarm', 'registry-pivot']);
  assert.equal((await store.read())![ABORT_KEYS.requestedAt], '', 'the old request was cleared');
});

test('invariants: a precondition that fails fails its step before any write (the nodes are never told v2); a skipped step still emits its event; completion is refused while tethers remain', async () => {
  const namespace = await testNamespace('engine-invariants', cleanups);
  const runs: string[] = [];
  const guarded: Step<object> = {
    ...recordingStep('registry-pivot', runs),
    precondition: async () => {
      throw new CutoverError('prewarm-incomplete', '1 artifact(s) are not complete in the local Harbor: ghcr.io/x:1');
    },
  };
  const first = engine(namespace, [recordingStep('harbor-prewarm', runs), guarded]);
  const outcome = await first.eng.run();
  assert.equal(outcome.failedStep, 'registry-pivot');
  assert.match(outcome.error ?? '', /not complete in the local Harbor/);
  assert.deepEqual(runs, ['harbor-prewarm'], 'registry-pivot never applied');
  const data = (await first.store.read())!;
  assert.equal(data.registriesYamlActive, 'v1', 'the nodes were never told to pivot');
  assert.equal(data.currentStep, '');

  const events: EngineEvent[] = [];
  const left = ['tethered Deployment tenant/x spec.template.spec.containers[0].image → ghcr.io/x:1'];
  const second = engine(
    namespace,
    [recordingStep('harbor-prewarm', runs), recordingStep('registry-pivot', runs)],
    undefined,
    {
      remainingTethers: async () => left,
    },
  );
  second.eng.on('event', (ev) => events.push(ev));
  const incomplete = await second.eng.run();
  assert.deepEqual(
    events.filter((ev) => ev.phase === 'cutover-step-finished').map((ev) => [ev.step, ev.skipped ?? false]),
    [
      ['harbor-prewarm', true],
      ['registry-pivot', false],
    ],
    'the step that had passed emits its event, marked skipped',
  );
  assert.equal(incomplete.result, 'failed');
  assert.equal(incomplete.failedStep, 'tethers');
  assert.match(incomplete.error ?? '', /1 tether\(s\) remain.*Deployment tenant\/x/);
  assert.equal((await second.store.read())!.cutoverComplete, 'false');
  left.length = 0;
  assert.equal((await second.eng.run()).result, 'completed', 'complete once none remain');
});

test('a Lease whose renewals stall is given up within two periods — before it expires for anyone else', async () => {
  const namespace = await testNamespace('engine-lease-stall', cleanups);
  // A TCP forwarder to the apiserver (on the apiserver's own address, so its certificate still matches)
  // that can be frozen: connections stay open and nothing more passes, as on a partitioned node.
  const target = new URL(e.kube.apiserver);
  let frozen = false;
  const sockets = new Set<Socket>();
  const forwarder = createNetServer((client) => {
    const upstream = connect(Number(target.port), target.hostname);
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('error', () => undefined);
      s.on('close', () => sockets.delete(s));
    }
    client.on('data', (chunk) => frozen || upstream.write(chunk));
    upstream.on('data', (chunk) => frozen || client.write(chunk));
  });
  await new Promise<void>((resolve) => forwarder.listen(0, target.hostname, resolve));
  cleanups.push(async () => {
    for (const s of sockets) s.destroy();
    await new Promise((resolve) => forwarder.close(resolve));
  });
  const port = (forwarder.address() as AddressInfo).port;
  const viaForwarder = new KubeConfig();
  viaForwarder.loadFromFile(e.kube.kubeconfig);
  viaForwarder.loadFromOptions({
    clusters: viaForwarder.getClusters().map((c) => ({ ...c, server: `https://${target.hostname}:${port}` })),
    users: viaForwarder.getUsers(),
    contexts: viaForwarder.getContexts(),
    currentContext: viaForwarder.getCurrentContext(),
  });
  const durationSeconds = 3; // a period of 1 s
  const lease = new SingleFlight(new KubeCluster(viaForwarder), namespace, 'stalled-engine', durationSeconds);
  await lease.acquire();
  frozen = true;
  const frozenAt = Date.now();
  await eventually('the engine to give the Lease up', async () => lease.signal.aborted, 10_000);
  const noticed = Date.now() - frozenAt;
  const held = await cluster.coordination.readNamespacedLease({ name: 'self-sovereign-cutover', namespace });
  const expiresAt = new Date(held.spec?.renewTime ?? 0).getTime() + durationSeconds * 1000;
  console.log(`# lease given up ${noticed} ms after renewals stalled; it expires ${expiresAt - Date.now()} ms later`);
  assert.ok(noticed <= 3_200, `noticed within two periods and a tick (${noticed} ms)`);
  assert.ok(Date.now() < expiresAt, 'given up before anyone else could take it');
  assert.match(String((lease.signal.reason as Error).message), /no renewal got through/);
});

test('a call to an apiserver that never answers fails at its deadline (transient), it does not hang', async () => {
  const held = new Set<Socket>();
  const blackHole = createNetServer((socket) => void held.add(socket.on('error', () => undefined))); // accepts, never answers
  await new Promise<void>((resolve) => blackHole.listen(0, '127.0.0.1', resolve));
  try {
    const config = new KubeConfig();
    config.loadFromOptions({
      clusters: [
        { name: 'c', server: `http://127.0.0.1:${(blackHole.address() as AddressInfo).port}`, skipTLSVerify: true },
      ],
      users: [{ name: 'u', token: 'x' }],
      contexts: [{ name: 'x', cluster: 'c', user: 'u' }],
      currentContext: 'x',
    });
    const started = Date.now();
    const failed = await new KubeCluster(config, 500).secretData('ns', 'name').catch((error: unknown) => error);
    assert.ok(failed instanceof PeerError && failed.transient, String(failed));
    const took = Date.now() - started;
    assert.match((failed as PeerError).message, /no answer: .*abort/i);
    assert.ok(took >= 450 && took < 3_000, `failed at its deadline, not before or long after (${took} ms)`);
  } finally {
    for (const socket of held) socket.destroy();
    await new Promise((resolve) => blackHole.close(resolve));
  }
});
