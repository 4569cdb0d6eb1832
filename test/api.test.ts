// `cutover serve` against the lab: the original's routes and status codes, sign-in through the
// lab's real OIDC provider, CSRF, SSE replay, the TokenReview trigger and the auto trigger. Each
// serve process works in a namespace of its own (status ConfigMap, Lease, step ConfigMaps).
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { PORTS } from '../lab/topology.ts';
import { mergePatch } from '../src/adapters/kube/cluster.ts';
import { oneStepChain, signIn, startServe, type ServeProcess, type SignedIn } from './support/api.ts';
import { eventually, foreignLease, kube, testNamespace } from './support/kube.ts';
import { cleanupsAfterAll } from './support/lab.ts';

const k = kube();
const cleanups = cleanupsAfterAll();
let namespace: string;
let api: ServeProcess;
let admin: SignedIn;
let viewer: SignedIn;

before(async () => {
  namespace = await testNamespace('api', cleanups);
  api = await startServe(PORTS.api + 1, namespace);
  cleanups.push(() => api.stop());
  admin = await signIn(api.url, 'admin');
  viewer = await signIn(api.url, 'viewer');
});
after(() => api?.stop());

const call = (path: string, init: RequestInit & { as?: SignedIn; csrf?: boolean } = {}) => {
  const headers: Record<string, string> = { ...(init.headers as Record<string, string>) };
  if (init.as) headers.cookie = init.as.cookie;
  if (init.as && init.csrf !== false && init.method === 'POST') headers['x-csrf-token'] = init.as.csrfToken;
  return fetch(`${api.url}${path}`, { ...init, headers });
};
const json = async (res: Response) => ({ status: res.status, body: (await res.json()) as Record<string, any> });
const START = '/api/v1/sovereign/cutover/start';
const STATUS = '/api/v1/sovereign/cutover/status';
const TRIGGER = '/api/v1/internal/cutover/trigger';

async function saToken(name: string): Promise<string> {
  await k.core.createNamespacedServiceAccount({ namespace, body: { metadata: { name } } }).catch(() => undefined);
  const r = await k.core.createNamespacedServiceAccountToken({
    name,
    namespace,
    body: { spec: { audiences: [], expirationSeconds: 600 } },
  });
  return r.status?.token ?? '';
}

test('health, metrics and the console page need no session; the API does', async () => {
  assert.deepEqual(await json(await call('/healthz')), { status: 200, body: { ok: true } });
  const metrics = await (await call('/metrics')).text();
  assert.match(metrics, /^cutover_state\{state="tethered"\} 1$/m);
  assert.match(metrics, /^cutover_step_result\{step="gitea-mirror",result="pending"\} 1$/m);
  assert.match(await (await call('/')).text(), /Achieve True Sovereignty/);
  for (const [path, method] of [
    [STATUS, 'GET'],
    [START, 'POST'],
    ['/api/v1/sovereign/cutover/events', 'GET'],
  ] as const) {
    const r = await json(await call(path, { method }));
    assert.equal(r.status, 401, `${method} ${path}`);
    assert.equal(r.body.error, 'unauthenticated');
  }
});

test('a signed-in operator sees the status in the original shape; sessions are sealed cookies', async () => {
  const r = await json(await call(STATUS, { as: viewer }));
  assert.equal(r.status, 200);
  assert.equal(r.body.state, 'tethered');
  assert.equal(r.body.cutoverComplete, false);
  assert.deepEqual(
    r.body.steps.map((s: { name: string }) => s.name),
    [
      'gitea-mirror',
      'harbor-projects',
      'harbor-prewarm',
      'registry-pivot',
      'flux-gitrepository-patch',
      'helmrepository-patches',
      'catalyst-api-env-patch',
      'egress-block-test',
    ],
  );
  assert.equal(r.body.raw.registriesYamlActive, 'v1', 'the status ConfigMap was created with its initial data');
  const tampered = { ...viewer, cookie: viewer.cookie.slice(0, -4) + 'AAAA' };
  assert.equal((await call(STATUS, { as: tampered })).status, 401, 'a tampered cookie is no session');
  // The tether counts arrive once the inventory (taken in the background) is done.
  const counts = await eventually(
    'tether counts in the status',
    async () => (await json(await call(STATUS, { as: viewer }))).body.tethers ?? undefined,
    60_000,
  );
  assert.ok(counts.tethered > 0, 'the lab Sovereign is tethered');
  // The full table names every workload's images: sovereign-admins (and auth.inventoryGroups) only.
  const refused = await json(await call('/api/v1/sovereign/cutover/tethers?fresh=true', { as: viewer }));
  assert.deepEqual([refused.status, refused.body.error], [403, 'not-inventory-reader']);
  const table = (await json(await call('/api/v1/sovereign/cutover/tethers', { as: admin }))).body;
  assert.equal(table.summary.tethered, table.tethers.filter((t: { state: string }) => t.state === 'tethered').length);
  // A step that finishes after the counts were taken makes them stale at once (not 30 s later): the
  // console never shows the count from before a run beside its outcome.
  const finishedAt = new Date(Date.parse(counts.takenAt) + 1000).toISOString();
  await k.core.patchNamespacedConfigMap(
    {
      name: 'self-sovereign-cutover-status',
      namespace,
      body: { data: { 'step.gitea-mirror.finishedAt': finishedAt } },
    },
    mergePatch,
  );
  const recounted = await eventually(
    'tether counts taken after the step finished',
    async () => {
      const t = (await json(await call(STATUS, { as: viewer }))).body.tethers;
      return t && t.takenAt > finishedAt ? t : undefined;
    },
    20_000,
  );
  assert.ok(Date.parse(recounted.takenAt) - Date.parse(counts.takenAt) < 30_000, 'well inside the 30 s refresh');
  const me = (await json(await call('/api/v1/session', { as: admin }))).body;
  assert.equal(me.admin, true);
  assert.deepEqual(me.groups, ['sovereign-admins']);
});

test('start: CSRF token and same origin required; only sovereign-admins; 424 without step ConfigMaps', async () => {
  let r = await json(await call(START, { method: 'POST', as: admin, csrf: false }));
  assert.deepEqual([r.status, r.body.error], [403, 'csrf-rejected']);
  r = await json(await call(START, { method: 'POST', as: admin, headers: { origin: 'https://evil.example' } }));
  assert.deepEqual([r.status, r.body.error], [403, 'csrf-rejected']);
  r = await json(await call(START, { method: 'POST', as: { ...admin, csrfToken: viewer.csrfToken } }));
  assert.deepEqual([r.status, r.body.error], [403, 'csrf-rejected'], "another session's token is refused");
  r = await json(await call(START, { method: 'POST', as: viewer }));
  assert.deepEqual([r.status, r.body.error], [403, 'not-sovereign-admin']);
  r = await json(await call(START, { method: 'POST', as: admin }));
  assert.deepEqual([r.status, r.body.error], [424, 'no-steps-found']);
});

test('internal trigger: 405, 401 without a bearer, 403 for a ServiceAccount not allowed, TokenReview for the runner', async () => {
  assert.equal((await call(TRIGGER)).status, 405);
  let r = await json(await call(TRIGGER, { method: 'POST' }));
  assert.deepEqual([r.status, r.body.error], [401, 'missing-bearer']);
  r = await json(await call(TRIGGER, { method: 'POST', headers: { authorization: 'Bearer not-a-token' } }));
  assert.deepEqual([r.status, r.body.error], [403, 'unauthorized-sa']);
  r = await json(
    await call(TRIGGER, { method: 'POST', headers: { authorization: `Bearer ${await saToken('intruder')}` } }),
  );
  assert.deepEqual([r.status, r.body.error], [403, 'unauthorized-sa']);
  assert.match(r.body.detail, new RegExp(`system:serviceaccount:${namespace}:intruder`));
  // The runner is allowed: the request gets past authentication to the cutover itself (no steps here).
  r = await json(
    await call(TRIGGER, {
      method: 'POST',
      headers: { authorization: `Bearer ${await saToken('bp-self-sovereign-cutover-runner')}` },
    }),
  );
  assert.deepEqual([r.status, r.body.error], [424, 'no-steps-found']);
  assert.doesNotMatch(api.output(), /eyJ[\w-]{20,}/, 'no token in the logs');
});

test('409 cutover-in-progress while another engine holds the Lease', async () => {
  const removeChain = await oneStepChain(namespace);
  const removeLease = await foreignLease(namespace, 'another-replica', new Date(), 300);
  try {
    const r = await json(await call(START, { method: 'POST', as: admin }));
    assert.deepEqual([r.status, r.body.error], [409, 'cutover-in-progress']);
    assert.match(r.body.detail, /another-replica/);
  } finally {
    await removeLease();
    await removeChain();
  }
});

test('SSE replays, sends a cutover-status snapshot, and closes after the run ends; complete → 200 already complete', async () => {
  const controller = new AbortController();
  const res = await call('/api/v1/sovereign/cutover/events', { as: viewer, signal: controller.signal });
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type') ?? '', /^text\/event-stream/);
  assert.equal(res.headers.get('x-accel-buffering'), 'no');
  const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
  let text = '';
  const until = async (pattern: RegExp) => {
    while (!pattern.test(text)) {
      const { value, done } = await reader.read();
      if (done) break;
      text += value;
    }
    return pattern.test(text);
  };
  assert.ok(await until(/event: cutover-status\ndata: \{/), 'a cutover-status snapshot first');
  // Another engine (the CLI, another replica) completes a run: every replica tells it from the ConfigMap.
  const patch = (data: Record<string, string>) =>
    k.core.patchNamespacedConfigMap({ name: 'self-sovereign-cutover-status', namespace, body: { data } }, mergePatch);
  await patch({ cutoverLastAttemptStartedAt: new Date().toISOString(), 'step.gitea-mirror.result': 'running' });
  assert.ok(await until(/event: cutover-step-started\ndata: .*"step":"gitea-mirror"/));
  await patch({ 'step.gitea-mirror.result': 'success', cutoverComplete: 'true', registriesYamlActive: 'v2' });
  assert.ok(await until(/event: cutover-completed/));
  const { done } = await eventually(
    'the stream to close after cutover-completed',
    async () => reader.read().then((r) => (r.done ? r : undefined)),
    10_000,
  );
  assert.equal(done, true);
  // A new subscriber gets the replay of this run, then the snapshot, and the stream ends.
  const replay = await (await call('/api/v1/sovereign/cutover/events', { as: viewer })).text();
  assert.match(
    replay,
    /event: cutover-started[\s\S]*event: cutover-step-started[\s\S]*event: cutover-completed[\s\S]*event: cutover-status/,
  );
  const r = await json(await call(START, { method: 'POST', as: admin }));
  assert.equal(r.status, 200);
  assert.equal(r.body.state, 'sovereign');
});

test('two starts at once (the auto trigger and a click): one chain starts, the other is 409 cutover-in-progress', async () => {
  const removeChain = await oneStepChain(namespace);
  // The test before left this namespace's status complete: tethered again, so a start starts.
  await k.core.patchNamespacedConfigMap(
    {
      name: 'self-sovereign-cutover-status',
      namespace,
      body: { data: { cutoverComplete: 'false', registriesYamlActive: 'v1', 'step.gitea-mirror.result': '' } },
    },
    mergePatch,
  );
  const status = async () =>
    (await k.core.readNamespacedConfigMap({ name: 'self-sovereign-cutover-status', namespace })).data ?? {};
  try {
    const answers = await Promise.all(
      [0, 1, 2].map(async () => (await call(START, { method: 'POST', as: admin })).status),
    );
    assert.deepEqual(answers.sort(), [200, 409, 409], 'exactly one start');
    // The one chain runs to its failure at step 02 (this test chain cannot pass it); one Job per step, never two.
    await eventually('the chain to stop', async () => (await status()).failedStep === 'harbor-projects', 60_000);
    const jobs = (await k.batch.listNamespacedJob({ namespace })).items.map(
      (j) => j.metadata?.labels?.['cutover.openova.io/step'],
    );
    assert.deepEqual(jobs.sort(), ['gitea-mirror', 'harbor-projects']);
  } finally {
    await removeChain();
    await k.batch.deleteCollectionNamespacedJob({ namespace, propagationPolicy: 'Background' }).catch(() => undefined);
    await k.core
      .patchNamespacedConfigMap(
        {
          name: 'self-sovereign-cutover-status',
          namespace,
          body: { data: { failedStep: '', lastError: '', cutoverStartedAt: '' } },
        },
        mergePatch,
      )
      .catch(() => undefined);
  }
});
