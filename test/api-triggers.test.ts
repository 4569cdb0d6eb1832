// Runs that start without an operator pressing the button. The auto trigger: with `trigger.auto`
// on, the first sovereign-admin sign-in arms it (recorded in the status ConfigMap), it starts the
// cutover after `trigger.autoDelaySeconds` — once, ever; a viewer's sign-in arms nothing. Resume: a
// replica that finds a run interrupted (its engine died mid-step, the Lease expired) carries it on.
// The chain here is one harmless job-mode step.
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { test } from 'node:test';
import { PORTS } from '../lab/topology.ts';
import { describeRun, oneStepChain, signIn, startServe, type ServeProcess } from './support/api.ts';
import { eventually, foreignLease, kube, testNamespace } from './support/kube.ts';
import { cleanupsAfterAll } from './support/lab.ts';

const k = kube();
const cleanups = cleanupsAfterAll();

/** The one-step chain's run as far as it goes: step 01 done, step 02 failed (it cannot get further). */
const chainRan = (namespace: string, serve: ServeProcess, what: string) =>
  eventually(
    what,
    async () => {
      const s = (await k.core.readNamespacedConfigMap({ name: 'self-sovereign-cutover-status', namespace })).data ?? {};
      return s['step.gitea-mirror.result'] === 'success' && s.failedStep ? s : undefined;
    },
    60_000,
    () => describeRun(namespace, serve),
  );

test('the first sovereign-admin sign-in arms the auto trigger; it fires once after the delay', async () => {
  const namespace = await testNamespace('auto', cleanups);
  await oneStepChain(namespace);
  const api = await startServe(PORTS.api + 2, namespace, { trigger: { auto: true, autoDelaySeconds: 2 } });
  cleanups.push(() => api.stop());
  const status = async () =>
    (await k.core.readNamespacedConfigMap({ name: 'self-sovereign-cutover-status', namespace })).data ?? {};

  await signIn(api.url, 'viewer');
  assert.equal((await status()).autoTriggerArmedAt, undefined, "a viewer's sign-in arms nothing");

  await signIn(api.url, 'admin');
  const armed = await status();
  assert.ok(armed.autoTriggerArmedAt, 'armed by the admin sign-in');
  assert.equal(armed.autoTriggerArmedBy, 'admin');
  assert.equal(armed.cutoverStartedAt, '', 'not before the delay');

  const fired = await chainRan(namespace, api, 'the auto trigger to start the cutover');
  assert.ok(
    Date.parse(fired.autoTriggerFiredAt ?? '') >= Date.parse(armed.autoTriggerDueAt ?? ''),
    'fired at or after the due time',
  );
  assert.ok(fired.cutoverStartedAt);
  // This chain cannot get past step 02; what matters is that the trigger started it.
  assert.equal(fired.failedStep, 'harbor-projects');

  await signIn(api.url, 'admin');
  await sleep(6_000); // more than one reconcile interval
  const later = await status();
  assert.equal(later.autoTriggerArmedAt, armed.autoTriggerArmedAt, 'never armed twice');
  assert.equal(later.cutoverLastAttemptStartedAt, fired.cutoverLastAttemptStartedAt, 'never fired twice');
  assert.match(api.output(), /auto trigger armed by admin/);
});

test('a replica resumes a run whose engine died mid-step once the Lease has expired', async () => {
  const namespace = await testNamespace('resume', cleanups);
  await oneStepChain(namespace);
  // What a replica killed during step 01 leaves: a running row, currentStep, and a Lease nobody renews.
  const long = new Date(Date.now() - 120_000);
  await k.core.createNamespacedConfigMap({
    namespace,
    body: {
      metadata: { name: 'self-sovereign-cutover-status' },
      data: {
        cutoverComplete: 'false',
        cutoverStartedAt: long.toISOString(),
        currentStep: 'gitea-mirror',
        'step.gitea-mirror.result': 'running',
        failedStep: '',
      },
    },
  });
  await foreignLease(namespace, 'replica-that-died', long, 30);

  const api = await startServe(PORTS.api + 3, namespace);
  cleanups.push(() => api.stop());
  const resumed = await eventually(
    'the new replica to resume and finish step 01',
    async () => {
      const s = (await k.core.readNamespacedConfigMap({ name: 'self-sovereign-cutover-status', namespace })).data ?? {};
      return s['step.gitea-mirror.result'] === 'success' ? s : undefined;
    },
    60_000,
    () => describeRun(namespace, api),
  );
  assert.ok(resumed['step.gitea-mirror.jobName']?.startsWith('cutover-gitea-mirror-'));
  assert.equal(resumed.cutoverStartedAt, long.toISOString(), 'the original start time is kept');
  assert.match(api.output(), /cutover started \(resume\)/);
});

test('two replicas started together without a session key create one and share it: a session signed in on one is a session on the other', async () => {
  const namespace = await testNamespace('sessions', cleanups);
  const replicas = await Promise.all(
    [PORTS.api + 12, PORTS.api + 13].map((port) => startServe(port, namespace, {}, { sessionKeyInEnv: false })),
  );
  try {
    const [a, b] = replicas as [ServeProcess, ServeProcess];
    const secret = await k.core.readNamespacedSecret({ name: 'sovereign-cutover-session', namespace });
    const key = Buffer.from(secret.data?.key ?? '', 'base64').toString();
    assert.match(key, /^[A-Za-z0-9_-]{43}$/, 'a random 256-bit key');
    const managers = (secret.metadata?.managedFields ?? []).map((f) => f.manager);
    assert.equal(managers.length, 1, `one replica wrote it, the other read it (${managers.join(', ')})`);
    const admin = await signIn(a.url, 'admin');
    const me = async (url: string) =>
      (await (await fetch(`${url}/api/v1/session`, { headers: { cookie: admin.cookie } })).json()) as {
        authenticated: boolean;
        csrfToken?: string;
      };
    assert.deepEqual(await me(b.url), { ...(await me(a.url)), authenticated: true });
    assert.equal((await me(b.url)).csrfToken, admin.csrfToken, 'the same key: the same CSRF token');
    for (const out of [a.output(), b.output()]) assert.ok(!out.includes(key), 'the key is never logged');
  } finally {
    for (const r of replicas) await r.stop();
  }
});

test('the API alone runs nothing: a start is a request in the status; a second is 409; abort withdraws it; a controller in another process takes the next', async () => {
  const namespace = await testNamespace('split', cleanups);
  await oneStepChain(namespace);
  // The install ships the status ConfigMap; the API may not create it.
  await k.core.createNamespacedConfigMap({ namespace, body: { metadata: { name: 'self-sovereign-cutover-status' } } });
  const status = async () =>
    (await k.core.readNamespacedConfigMap({ name: 'self-sovereign-cutover-status', namespace })).data ?? {};
  const api = await startServe(PORTS.api + 14, namespace, {}, { role: 'api' });
  cleanups.push(() => api.stop());
  const admin = await signIn(api.url, 'admin');
  const post = (path: string) =>
    fetch(`${api.url}/api/v1/sovereign/cutover/${path}`, {
      method: 'POST',
      headers: { cookie: admin.cookie, 'x-csrf-token': admin.csrfToken, origin: api.url },
    });

  assert.equal((await post('start')).status, 200);
  const requested = await status();
  assert.match(requested.requestStartAt ?? '', /^\d{4}-/);
  assert.equal(requested.requestStartSource, 'operator');
  const report = (await (
    await fetch(`${api.url}/api/v1/sovereign/cutover/status`, { headers: { cookie: admin.cookie } })
  ).json()) as { request?: { pending?: string } };
  assert.match(report.request?.pending ?? '', /^start requested at \S+ \(operator\)$/);
  const second = await post('start');
  assert.equal(second.status, 409, 'a request not taken yet is a start in progress');
  assert.match(((await second.json()) as { detail: string }).detail, /requested at/);
  await sleep(3_000);
  assert.deepEqual((await k.batch.listNamespacedJob({ namespace })).items, [], 'no Job: the API runs nothing');
  assert.equal((await status()).cutoverStartedAt ?? '', '', 'no run began');

  assert.equal((await post('abort')).status, 202);
  const withdrawn = await status();
  assert.equal(withdrawn.requestStartAt, '');
  assert.match(withdrawn.requestError ?? '', /withdrawn by admin/);
  // …and the status report says so (the console, `cutover status`).
  const shown = (await (
    await fetch(`${api.url}/api/v1/sovereign/cutover/status`, { headers: { cookie: admin.cookie } })
  ).json()) as { request?: { pending?: string; error?: string } };
  assert.match(shown.request?.error ?? '', /start withdrawn by admin before it began/);

  assert.equal((await post('start')).status, 200);
  const controller = await startServe(PORTS.api + 15, namespace, {}, { role: 'controller' });
  cleanups.push(() => controller.stop());
  const ran = await chainRan(namespace, controller, 'the controller to take the request and run the chain');
  assert.equal(ran.requestStartAt, '', 'the request was taken');
  // This chain cannot get past step 02; what matters is that the controller ran what the API asked for.
  assert.equal(ran.failedStep, 'harbor-projects');
  assert.match(controller.output(), /cutover started \(operator\)/);
  assert.doesNotMatch(api.output(), /cutover started/, 'the API started nothing itself');
});
