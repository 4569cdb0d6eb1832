// The HTTP app without a cluster: buildApp over an in-memory stand-in for the cutover service, the
// real status feed reading an in-memory status, real sealed sessions and real metrics. What the lab
// tests (test/api*.test.ts) prove against real peers, this pins at the wire in milliseconds:
// routes, status codes, error bodies, headers, SSE frames.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CutoverError } from '../../src/core/errors.ts';
import { STEP_IDS, type StatusData } from '../../src/core/contracts.ts';
import { parseValues } from '../../src/core/values.ts';
import type { CutoverControl, RunSource, SignIn, TetherSnapshot } from '../../src/http/cutover-control.ts';
import { CutoverMetrics } from '../../src/http/metrics.ts';
import { OidcLogin } from '../../src/http/oidc-login.ts';
import { CONTENT_SECURITY_POLICY } from '../../src/http/middleware.ts';
import { INVENTORY_READS, STREAMS_PER_SESSION } from '../../src/http/routes/cutover-api.ts';
import { buildApp } from '../../src/http/server.ts';
import { isSession, SessionSealer, type PendingLogin, type Session } from '../../src/http/session.ts';
import { StatusFeed } from '../../src/http/status-feed.ts';

const ORIGIN = 'https://cutover.test';
const RUNNER = 'system:serviceaccount:cutover:bp-self-sovereign-cutover-runner';
const START = '/api/v1/sovereign/cutover/start';
const STATUS = '/api/v1/sovereign/cutover/status';
const EVENTS = '/api/v1/sovereign/cutover/events';
const TRIGGER = '/api/v1/internal/cutover/trigger';

const values = parseValues(`
sovereign: { harborInternalURL: 'http://harbor.test', harborPublicURL: 'https://harbor.test', giteaInternalURL: 'http://gitea.test' }
upstream: { repoURL: 'https://github.com/openova-io/openova.git' }
api: { publicURL: '${ORIGIN}/' }
`);

/** What the service does, programmed per test; records what the routes asked of it. */
interface InMemoryService extends CutoverControl {
  next: 'started' | 'already-complete' | Error;
  lastTethers: TetherSnapshot | undefined;
  readonly starts: RunSource[];
  readonly armed: string[];
  readonly tetherWalks: (number | undefined)[];
  readonly approvals: Array<{ by: string; revision: string | undefined }>;
  readonly aborts: string[];
  readonly rollbacks: string[];
  /** Who runs the cutover now ('' when nothing does). */
  running: string;
}

/** A stand-in for CutoverService: `tokens` maps a bearer token to the ServiceAccount TokenReview would name. */
function inMemoryService(tokens: Record<string, string> = {}): InMemoryService {
  const snapshot: TetherSnapshot = {
    takenAt: new Date().toISOString(),
    summary: { tethered: 2, unmapped: 0, pivoted: 1, exempt: 0, unreadable: [] },
    tethers: [],
  };
  return {
    next: 'started',
    lastTethers: undefined,
    starts: [],
    armed: [],
    tetherWalks: [],
    approvals: [],
    aborts: [],
    rollbacks: [],
    running: '',
    async start(source) {
      this.starts.push(source);
      if (this.next instanceof Error) throw this.next;
      return this.next;
    },
    async tethers(maxAgeMs) {
      this.tetherWalks.push(maxAgeMs);
      return snapshot;
    },
    async reviewToken(token) {
      const username = tokens[token] ?? '';
      return { username, allowed: username === RUNNER };
    },
    async armAutoTrigger(username) {
      this.armed.push(username);
      return true;
    },
    async approveIntake(by, revision) {
      this.approvals.push({ by, revision });
      return undefined;
    },
    async rollbackPlan() {
      return [
        { action: 'restore', target: 'GitRepository flux-system/openova', detail: 'spec.url → "https://github.com/x"' },
      ];
    },
    async rollback(by) {
      if (this.running)
        throw new CutoverError('in-progress', 'a cutover (or a rollback) is in progress: abort it first');
      this.rollbacks.push(by);
      return 'started';
    },
    async abort(by) {
      if (!this.running) throw new CutoverError('nothing-running', 'no cutover is running: nothing to abort');
      this.aborts.push(by);
      return this.running;
    },
  };
}

function world(
  options: { status?: StatusData; login?: SignIn; tokens?: Record<string, string>; inventoryGroups?: string[] } = {},
) {
  const state = { status: options.status ?? {}, readError: undefined as Error | undefined };
  const feed = new StatusFeed({
    read: async () => {
      if (state.readError) throw state.readError;
      return state.status;
    },
  });
  const metrics = new CutoverMetrics(() => feed.snapshot);
  const service = inMemoryService(options.tokens);
  const sealer = new SessionSealer('unit-test-session-key');
  const logs: string[] = [];
  const login =
    options.login ?? new OidcLogin({ ...values.auth.oidc, clientSecret: '' /* no issuer: sign-in is unconfigured */ });
  const withGroups = { ...values, auth: { ...values.auth, inventoryGroups: options.inventoryGroups ?? [] } };
  const app = buildApp({ values: withGroups, service, feed, metrics, login, sealer, log: (line) => logs.push(line) });
  const session = (name: string, admin: boolean, groups: string[] = []): Session => ({
    sid: `sid-${name}`,
    sub: name,
    name,
    groups: admin ? ['sovereign-admins'] : groups,
    admin,
    exp: Math.floor(Date.now() / 1000) + 3600,
  });
  const as = (s: Session) => ({ cookie: `cutover_session=${sealer.seal(s, 'session')}`, csrf: sealer.csrfToken(s) });
  const admin = as(session('admin', true));
  const viewer = as(session('viewer', false));
  const auditor = as(session('auditor', false, ['auditors']));
  /** A request as a browser on the console would send it (CSRF token on POST unless `csrf: false`). */
  const call = (
    path: string,
    init: {
      method?: string;
      as?: { cookie: string; csrf: string };
      csrf?: boolean;
      headers?: Record<string, string>;
      body?: string;
    } = {},
  ) => {
    const headers: Record<string, string> = { ...init.headers };
    if (init.as) headers.cookie = init.as.cookie;
    if (init.as && init.csrf !== false && init.method === 'POST') headers['x-csrf-token'] = init.as.csrf;
    return app.request(`${ORIGIN}${path}`, { method: init.method ?? 'GET', headers, body: init.body ?? null });
  };
  return { app, feed, metrics, service, sealer, logs, state, admin, viewer, auditor, call };
}

const json = async (res: Response) => ({ status: res.status, body: (await res.json()) as Record<string, any> });

test('health, metrics and the console need no session; every response says nosniff, same-origin, no-store', async () => {
  const w = world();
  const health = await w.call('/healthz');
  assert.equal(health.status, 200);
  assert.equal(await health.text(), '{"ok":true}');
  assert.equal(health.headers.get('x-content-type-options'), 'nosniff');
  assert.equal(health.headers.get('referrer-policy'), 'same-origin');
  assert.equal(health.headers.get('cache-control'), 'no-store');

  await w.feed.poll();
  const metrics = await w.call('/metrics');
  assert.equal(metrics.status, 200);
  assert.equal(metrics.headers.get('content-type'), w.metrics.registry.contentType);
  assert.match(metrics.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
  const text = await metrics.text();
  assert.match(text, /^cutover_state\{state="tethered"\} 1$/m);
  assert.match(text, /^cutover_step_result\{step="gitea-mirror",result="pending"\} 1$/m);
  assert.match(text, /^cutover_http_requests_total\{route="\/healthz",code="200"\} 1$/m, 'counted by route');

  const page = await w.call('/');
  assert.match(page.headers.get('content-type') ?? '', /^text\/html/);
  assert.match(await page.text(), /Achieve True Sovereignty/);
  assert.equal((await w.call('/console.js')).headers.get('content-type'), 'text/javascript; charset=utf-8');
  assert.equal((await w.call('/console.css')).headers.get('content-type'), 'text/css; charset=utf-8');
  const missing = await w.call('/nowhere');
  assert.equal(missing.status, 404);
  assert.equal(missing.headers.get('x-content-type-options'), 'nosniff');
  // The console's policy: its own files only, no inline script, never framed (on errors too).
  for (const res of [page, missing, await w.call(STATUS)]) {
    assert.equal(res.headers.get('content-security-policy'), CONTENT_SECURITY_POLICY);
    assert.equal(res.headers.get('x-frame-options'), 'DENY');
  }
  assert.match(CONTENT_SECURITY_POLICY, /frame-ancestors 'none'/);
  assert.doesNotMatch(CONTENT_SECURITY_POLICY, /unsafe-inline|unsafe-eval/);
  assert.doesNotMatch(await (await w.call('/')).text(), /<script>|<script(?![^>]*\bsrc=)[^>]*>|\son[a-z]+=/i);
});

test('tether inventory: sovereign-admins and auth.inventoryGroups only; reads per identity bounded (429 with Retry-After); a forced walk is never fresher than 10 s', async () => {
  const w = world({ inventoryGroups: ['auditors'] });
  const TETHERS = '/api/v1/sovereign/cutover/tethers';
  // The attack: any signed-in identity listing every workload's images, and forcing full walks at will.
  const refused = await json(await w.call(`${TETHERS}?fresh=true`, { as: w.viewer }));
  assert.deepEqual(refused, {
    status: 403,
    body: {
      error: 'not-inventory-reader',
      detail: 'viewer may not read the tether inventory (sovereign-admins and auth.inventoryGroups may)',
    },
  });
  assert.deepEqual(w.service.tetherWalks, [], 'a refused read walks nothing');
  assert.equal((await w.call(TETHERS, { as: w.auditor })).status, 200, 'a member of an inventory group reads it');

  for (let i = 0; i < INVENTORY_READS; i++)
    assert.equal((await w.call(`${TETHERS}?fresh=true`, { as: w.admin })).status, 200);
  assert.ok(
    w.service.tetherWalks.every((age) => age !== undefined && age >= 10_000),
    'no read asks for a 0 s walk',
  );
  const limited = await w.call(`${TETHERS}?fresh=true`, { as: w.admin });
  assert.equal(limited.status, 429);
  const body = (await limited.json()) as { error: string; detail: string };
  assert.equal(body.error, 'rate-limited');
  assert.match(body.detail, new RegExp(`at most ${INVENTORY_READS} per 60 s; try again in \\d+ s`));
  assert.ok(Number(limited.headers.get('retry-after')) > 0 && Number(limited.headers.get('retry-after')) <= 60);
  assert.equal(w.service.tetherWalks.length, INVENTORY_READS + 1, 'the refused read walked nothing');
  assert.equal((await w.call(TETHERS, { as: w.auditor })).status, 200, 'the bound is per identity');
});

test('event streams: a session holds a bounded number open (429 past it); one closed frees its place', async () => {
  const w = world({ status: { cutoverComplete: 'false' } });
  const open: Array<ReturnType<typeof sseReader>> = [];
  try {
    for (let i = 0; i < STREAMS_PER_SESSION; i++) {
      const res = await w.call(EVENTS, { as: w.viewer });
      assert.equal(res.status, 200);
      const sse = sseReader(res);
      assert.ok(await sse.until(/event: cutover-status/));
      open.push(sse);
    }
    const over = await json(await w.call(EVENTS, { as: w.viewer }));
    assert.deepEqual(over, {
      status: 429,
      body: { error: 'rate-limited', detail: `event streams: at most ${STREAMS_PER_SESSION} open per session` },
    });
    const other = await w.call(EVENTS, { as: w.admin });
    assert.equal(other.status, 200, 'another session is not affected');
    await other.body?.cancel();
    await open.shift()?.cancel();
    // The server learns of the close asynchronously: its place is free within moments.
    let again = await w.call(EVENTS, { as: w.viewer });
    for (let i = 0; again.status === 429 && i < 100; i++) {
      await again.body?.cancel();
      await new Promise((resolve) => setTimeout(resolve, 10));
      again = await w.call(EVENTS, { as: w.viewer });
    }
    assert.equal(again.status, 200);
    await again.body?.cancel();
  } finally {
    for (const sse of open) await sse.cancel();
  }
});

test('without a session the API answers 401 unauthenticated; a tampered cookie is no session', async () => {
  const w = world();
  for (const [path, method] of [
    [STATUS, 'GET'],
    [START, 'POST'],
    [EVENTS, 'GET'],
    ['/api/v1/sovereign/cutover/tethers', 'GET'],
    ['/auth/logout', 'POST'],
  ] as const) {
    const res = await w.call(path, { method });
    assert.equal(res.status, 401, `${method} ${path}`);
    assert.equal(res.headers.get('content-type'), 'application/json');
    assert.equal(await res.text(), '{"error":"unauthenticated","detail":"sign in first (GET /auth/login)"}');
  }
  const tampered = { ...w.viewer, cookie: `${w.viewer.cookie.slice(0, -4)}AAAA` };
  assert.equal((await w.call(STATUS, { as: tampered })).status, 401);
  // Sealed with the right key but not a session (the wrong purpose, or a session of the wrong shape),
  // or with its tag cut short: refused.
  const key = w.sealer;
  const wrongShape = key.seal({ sid: 'x', exp: Math.floor(Date.now() / 1000) + 60 }, 'session');
  assert.equal((await w.call(STATUS, { as: { cookie: `cutover_session=${wrongShape}`, csrf: '' } })).status, 401);
  const raw = Buffer.from(w.viewer.cookie.replace(/^cutover_session=/, ''), 'base64url');
  const shortTag = Buffer.concat([raw.subarray(0, 16), raw.subarray(28)]).toString('base64url');
  assert.equal((await w.call(STATUS, { as: { cookie: `cutover_session=${shortTag}`, csrf: '' } })).status, 401);
  const foreign = new SessionSealer('another-key').seal(
    {
      sid: 'x',
      sub: 'x',
      name: 'x',
      groups: [],
      admin: true,
      exp: 2e9,
    },
    'session',
  );
  assert.equal((await w.call(STATUS, { as: { cookie: `cutover_session=${foreign}`, csrf: '' } })).status, 401);
  assert.deepEqual(await json(await w.call('/api/v1/session')), {
    status: 200,
    body: { authenticated: false, signInURL: '/auth/login' },
  });
  assert.deepEqual(w.service.starts, [], 'nothing started');
});

test('start: CSRF token and same origin required, then sovereign-admins only', async () => {
  const w = world();
  let r = await json(await w.call(START, { method: 'POST', as: w.admin, csrf: false }));
  assert.deepEqual(r, { status: 403, body: { error: 'csrf-rejected', detail: 'missing or wrong X-CSRF-Token' } });
  r = await json(await w.call(START, { method: 'POST', as: w.admin, headers: { origin: 'https://evil.example' } }));
  assert.deepEqual(r, {
    status: 403,
    body: { error: 'csrf-rejected', detail: 'cross-origin request from https://evil.example' },
  });
  r = await json(await w.call(START, { method: 'POST', as: { ...w.admin, csrf: w.viewer.csrf } }));
  assert.deepEqual([r.status, r.body.error], [403, 'csrf-rejected'], "another session's token is refused");
  r = await json(await w.call(START, { method: 'POST', as: w.viewer }));
  assert.deepEqual(r, {
    status: 403,
    body: { error: 'not-sovereign-admin', detail: 'viewer is not in sovereign-admins' },
  });
  assert.deepEqual(w.service.starts, [], 'nothing started before the checks passed');
  r = await json(await w.call(START, { method: 'POST', as: w.admin, headers: { origin: ORIGIN } }));
  assert.equal(r.status, 200, 'our own origin (the public URL) is fine');
  assert.deepEqual(w.service.starts, ['operator']);
});

test('intake approve: sovereign-admins only, with CSRF; the revision must be a commit id; the approver is the session', async () => {
  const w = world();
  const APPROVE = '/api/v1/sovereign/cutover/intake/approve';
  const revision = 'a'.repeat(40);
  let r = await json(await w.call(APPROVE, { method: 'POST', as: w.admin, csrf: false }));
  assert.deepEqual([r.status, r.body.error], [403, 'csrf-rejected']);
  r = await json(await w.call(APPROVE, { method: 'POST', as: w.viewer, body: JSON.stringify({ revision }) }));
  assert.deepEqual([r.status, r.body.error], [403, 'not-sovereign-admin']);
  r = await json(await w.call(APPROVE, { method: 'POST', as: w.admin, body: JSON.stringify({ revision: 'main' }) }));
  assert.deepEqual(r, {
    status: 400,
    body: { error: 'invalid-request', detail: 'revision must be a 40-hex commit id' },
  });
  assert.deepEqual(w.service.approvals, [], 'nothing approved before the checks passed');
  r = await json(await w.call(APPROVE, { method: 'POST', as: w.admin, body: JSON.stringify({ revision }) }));
  assert.equal(r.status, 200);
  assert.equal(r.body.condition.type, 'Sovereign', 'answers with the status');
  r = await json(await w.call(APPROVE, { method: 'POST', as: w.admin }));
  assert.equal(r.status, 200, 'no body: whichever revision is pending');
  assert.deepEqual(w.service.approvals, [
    { by: 'admin', revision },
    { by: 'admin', revision: undefined },
  ]);
});

test('abort: sovereign-admins only, CSRF-checked; 202 with the status when a run is asked to stop, 409 when none runs', async () => {
  const w = world();
  const ABORT = '/api/v1/sovereign/cutover/abort';
  w.service.running = 'cutover-api-7f9c';
  let r = await json(await w.call(ABORT, { method: 'POST', as: w.admin, csrf: false }));
  assert.deepEqual([r.status, r.body.error], [403, 'csrf-rejected']);
  r = await json(await w.call(ABORT, { method: 'POST', as: w.viewer }));
  assert.deepEqual([r.status, r.body.error], [403, 'not-sovereign-admin']);
  assert.equal((await w.call(ABORT, { method: 'GET', as: w.admin })).status, 404, 'a GET aborts nothing');
  assert.deepEqual(w.service.aborts, [], 'nothing asked before the checks passed');
  r = await json(await w.call(ABORT, { method: 'POST', as: w.admin }));
  assert.equal(r.status, 202);
  assert.equal(r.body.condition.type, 'Sovereign', 'answers with the status');
  assert.deepEqual(w.service.aborts, ['admin']);
  w.service.running = '';
  r = await json(await w.call(ABORT, { method: 'POST', as: w.admin }));
  assert.deepEqual([r.status, r.body.error], [409, 'nothing-running']);
});

test('rollback: its plan and the rollback itself for sovereign-admins only (CSRF-checked); 202 when started, 409 while a run holds the Lease', async () => {
  const w = world();
  const ROLLBACK = '/api/v1/sovereign/cutover/rollback';
  let r = await json(await w.call(ROLLBACK, { as: w.viewer }));
  assert.deepEqual([r.status, r.body.error], [403, 'not-sovereign-admin']);
  r = await json(await w.call(ROLLBACK, { as: w.admin }));
  assert.equal(r.status, 200);
  assert.match(r.body.changes[0].target, /GitRepository flux-system\/openova/, 'the plan names each change');
  r = await json(await w.call(ROLLBACK, { method: 'POST', as: w.admin, csrf: false }));
  assert.deepEqual([r.status, r.body.error], [403, 'csrf-rejected']);
  r = await json(await w.call(ROLLBACK, { method: 'POST', as: w.viewer }));
  assert.deepEqual([r.status, r.body.error], [403, 'not-sovereign-admin']);
  assert.deepEqual(w.service.rollbacks, [], 'nothing rolled back before the checks passed');
  r = await json(await w.call(ROLLBACK, { method: 'POST', as: w.admin }));
  assert.equal(r.status, 202);
  assert.deepEqual(w.service.rollbacks, ['admin']);
  w.service.running = 'cutover-api-7f9c';
  r = await json(await w.call(ROLLBACK, { method: 'POST', as: w.admin }));
  assert.deepEqual([r.status, r.body.error], [409, 'cutover-in-progress']);
});

test('start: 200 with the status, 409 cutover-in-progress, 424 no-steps-found, 5xx mapped and logged', async () => {
  const w = world();
  let r = await json(await w.call(START, { method: 'POST', as: w.admin }));
  assert.equal(r.status, 200);
  assert.equal(r.body.state, 'tethered');

  w.service.next = 'already-complete';
  w.state.status = { cutoverComplete: 'true', registriesYamlActive: 'v2' };
  r = await json(await w.call(START, { method: 'POST', as: w.admin }));
  assert.deepEqual([r.status, r.body.state, r.body.cutoverComplete], [200, 'sovereign', true]);

  w.service.next = new CutoverError('in-progress', 'a cutover is already in progress (held by another-replica)');
  const busy = await w.call(START, { method: 'POST', as: w.admin });
  assert.equal(busy.status, 409);
  assert.equal(
    await busy.text(),
    '{"error":"cutover-in-progress","detail":"a cutover is already in progress (held by another-replica)"}',
  );

  w.service.next = new CutoverError('no-steps-found', 'no step ConfigMaps in namespace cutover');
  r = await json(await w.call(START, { method: 'POST', as: w.admin }));
  assert.deepEqual(r, {
    status: 424,
    body: { error: 'no-steps-found', detail: 'no step ConfigMaps in namespace cutover' },
  });
  assert.equal(w.logs.length, 0, '4xx are the caller’s, not logged');

  w.service.next = new CutoverError('invalid-step-configmap', 'step ConfigMap x names step "y"');
  r = await json(await w.call(START, { method: 'POST', as: w.admin }));
  assert.deepEqual([r.status, r.body.error], [502, 'step-discovery-failed']);
  w.service.next = new Error('boom with Authorization: Bearer abc.def');
  r = await json(await w.call(START, { method: 'POST', as: w.admin }));
  assert.deepEqual([r.status, r.body.error], [500, 'internal-error']);
  assert.match(r.body.detail, /^boom with Authorization: Bearer \*\*\*/, 'the token redacted');
  assert.equal(w.logs.length, 2, 'each 5xx logged once');
  assert.equal(
    w.logs[0],
    'POST /api/v1/sovereign/cutover/start: 502 step-discovery-failed: step ConfigMap x names step "y"',
  );
  assert.equal(w.logs[1], `POST /api/v1/sovereign/cutover/start: 500 internal-error: ${r.body.detail}`);
  assert.ok(!w.logs.some((l) => l.includes('abc.def')), 'no token in the logs');
  assert.deepEqual(w.service.starts, Array(6).fill('operator'));
});

test('internal trigger: 405, 401 missing-bearer, 403 unauthorized-sa, TokenReview admits the runner', async () => {
  const w = world({ tokens: { 'runner-token': RUNNER, 'intruder-token': 'system:serviceaccount:cutover:intruder' } });
  for (const method of ['GET', 'PUT']) {
    const res = await w.call(TRIGGER, { method });
    assert.equal(res.status, 405, method);
    assert.equal(await res.text(), '{"error":"method-not-allowed","detail":"POST only"}');
  }
  let r = await json(await w.call(TRIGGER, { method: 'POST' }));
  assert.deepEqual(r, {
    status: 401,
    body: { error: 'missing-bearer', detail: 'Authorization: Bearer <ServiceAccount token> is required' },
  });
  r = await json(await w.call(TRIGGER, { method: 'POST', headers: { authorization: 'Basic dXNlcjpwYXNz' } }));
  assert.deepEqual([r.status, r.body.error], [401, 'missing-bearer']);
  r = await json(await w.call(TRIGGER, { method: 'POST', headers: { authorization: 'Bearer not-a-token' } }));
  assert.deepEqual(r, {
    status: 403,
    body: { error: 'unauthorized-sa', detail: 'an unauthenticated token may not trigger the cutover' },
  });
  r = await json(await w.call(TRIGGER, { method: 'POST', headers: { authorization: 'Bearer intruder-token' } }));
  assert.deepEqual(r, {
    status: 403,
    body: { error: 'unauthorized-sa', detail: 'system:serviceaccount:cutover:intruder may not trigger the cutover' },
  });
  assert.deepEqual(w.service.starts, []);
  w.service.next = new CutoverError('no-steps-found', 'no step ConfigMaps in namespace cutover');
  r = await json(await w.call(TRIGGER, { method: 'POST', headers: { authorization: 'bearer runner-token' } }));
  assert.deepEqual([r.status, r.body.error], [424, 'no-steps-found'], 'the runner gets past authentication');
  w.service.next = 'started';
  r = await json(await w.call(TRIGGER, { method: 'POST', headers: { authorization: 'Bearer runner-token' } }));
  assert.equal(r.status, 200);
  assert.deepEqual(w.service.starts, ['internal', 'internal']);
  assert.ok(w.logs.includes(`internal trigger by ${RUNNER}`));
  assert.ok(!w.logs.some((l) => l.includes('runner-token')), 'no token in the logs');
});

test('status: the original shape plus the console extras; tethers as last taken, refreshed in the background', async () => {
  const egressStarted = new Date().toISOString();
  const w = world({
    status: {
      cutoverComplete: 'false',
      cutoverStartedAt: egressStarted,
      registriesYamlActive: 'v2',
      'step.gitea-mirror.result': 'success',
      'step.egress-block-test.result': 'running',
      'step.egress-block-test.startedAt': egressStarted,
      autoTriggerArmedAt: egressStarted,
    },
  });
  const res = await w.call(STATUS, { as: w.viewer });
  assert.equal(res.headers.get('cache-control'), 'no-store');
  const { status, body } = await json(res);
  assert.equal(status, 200);
  assert.equal(body.state, 'tethered');
  assert.equal(body.cutoverComplete, false);
  assert.deepEqual(
    body.steps.map((s: { name: string }) => s.name),
    [...STEP_IDS],
  );
  assert.equal(body.raw.registriesYamlActive, 'v2');
  assert.deepEqual(body.egressWindow, { startedAt: egressStarted, durationSeconds: values.egressTest.durationSeconds });
  assert.deepEqual(body.autoTrigger, {
    enabled: false,
    delaySeconds: values.trigger.autoDelaySeconds,
    armedAt: egressStarted,
    dueAt: null,
    firedAt: null,
  });
  assert.equal(body.changes.length, 6);
  assert.match(body.changes[0], /^Git: mirror https:\/\/github\.com\/openova-io\/openova\.git into Gitea /);
  assert.equal(body.tethers, null, 'no inventory yet: null, and one is taken in the background');
  assert.deepEqual(w.service.tetherWalks, [0], 'a walk of its own, not a cached one');

  w.service.lastTethers = await w.service.tethers();
  const again = (await json(await w.call(STATUS, { as: w.viewer }))).body;
  assert.deepEqual(again.tethers, { ...w.service.lastTethers.summary, takenAt: w.service.lastTethers.takenAt });
  assert.equal(w.service.tetherWalks.length, 2, 'a fresh inventory is not walked again');

  const table = await json(await w.call('/api/v1/sovereign/cutover/tethers?fresh=true', { as: w.admin }));
  assert.deepEqual(Object.keys(table.body), ['takenAt', 'summary', 'tethers']);
  assert.equal(w.service.tetherWalks.at(-1), 10_000, '?fresh=true asks for a walk no older than 10 s, never 0');

  w.state.readError = new Error('configmaps is forbidden');
  await w.feed.poll();
  const failed = await json(await w.call(STATUS, { as: w.viewer }));
  assert.deepEqual(failed, { status: 502, body: { error: 'status-read-failed', detail: 'configmaps is forbidden' } });
});

test('session and logout: who is signed in with their CSRF token; logout is a state change', async () => {
  const w = world();
  const me = await json(await w.call('/api/v1/session', { as: w.admin }));
  assert.deepEqual(me, {
    status: 200,
    body: { authenticated: true, user: 'admin', groups: ['sovereign-admins'], admin: true, csrfToken: w.admin.csrf },
  });
  assert.deepEqual(
    (await json(await w.call('/auth/logout', { method: 'POST', as: w.admin, csrf: false }))).body.error,
    'csrf-rejected',
  );
  const out = await w.call('/auth/logout', { method: 'POST', as: w.admin });
  assert.deepEqual([out.status, await out.text()], [200, '{"ok":true}']);
  assert.match(
    out.headers.get('set-cookie') ?? '',
    /^cutover_session=; Max-Age=0; Path=\/; HttpOnly; Secure; SameSite=Lax/,
  );
});

test('sign-in: 503 without an identity provider; the code flow seals the session and arms the auto trigger for admins', async () => {
  let w = world();
  assert.deepEqual(await json(await w.call('/auth/login')), {
    status: 503,
    body: { error: 'auth-unconfigured', detail: 'no identity provider configured (auth.oidc.issuerURL)' },
  });
  assert.deepEqual(w.logs, [
    'GET /auth/login: 503 auth-unconfigured: no identity provider configured (auth.oidc.issuerURL)',
  ]);

  // The identity provider's side is openid-client's (checked against the lab's provider); here it is a stand-in.
  const begun: string[] = [];
  const login: SignIn = {
    async begin(redirectURI, returnTo) {
      begun.push(returnTo);
      const pending: PendingLogin = { state: 's', nonce: 'n', verifier: 'v', returnTo, exp: 2e9 };
      return { url: `https://idp.test/authorize?redirect_uri=${encodeURIComponent(redirectURI)}`, pending };
    },
    async finish(callbackURL) {
      const name = callbackURL.searchParams.get('code') ?? '';
      return { sid: name, sub: name, name, groups: [], admin: name === 'admin', exp: 2e9 };
    },
  };
  w = world({ login });
  const start = await w.call('/auth/login?returnTo=//evil.example');
  assert.equal(start.status, 302);
  assert.equal(
    start.headers.get('location'),
    'https://idp.test/authorize?redirect_uri=https%3A%2F%2Fcutover.test%2Fauth%2Fcallback',
  );
  assert.deepEqual(begun, ['/'], 'only a local path is a place to return to');
  const loginCookie = /^(cutover_login=[^;]+); Max-Age=600; Path=\/; HttpOnly; Secure; SameSite=Lax$/.exec(
    start.headers.get('set-cookie') ?? '',
  )?.[1];
  assert.ok(loginCookie, start.headers.get('set-cookie') ?? 'no cookie');
  // The attack the review reproduced: the sealed login value sent as a session opens nothing.
  const asSession = { cookie: loginCookie.replace(/^cutover_login=/, 'cutover_session='), csrf: '' };
  assert.equal((await w.call(STATUS, { as: asSession })).status, 401, 'a login cookie is not a session');
  for (const returnTo of [
    '/\\evil.example',
    '/\\/evil.example',
    'https://evil.example/',
    '/\r\nSet-Cookie: x=y',
    '/ok\u0000',
  ]) {
    await w.call(`/auth/login?returnTo=${encodeURIComponent(returnTo)}`);
    assert.equal(begun.at(-1), '/', `${JSON.stringify(returnTo)} is not a place to return to`);
  }
  await w.call(`/auth/login?returnTo=${encodeURIComponent('/console/steps?x=1')}`);
  assert.equal(begun.at(-1), '/console/steps?x=1', 'a local path is');

  assert.deepEqual((await json(await w.call('/auth/callback?code=admin'))).body.error, 'sign-in-failed');
  for (const user of ['viewer', 'admin']) {
    const back = await w.call(`/auth/callback?code=${user}&state=s`, { headers: { cookie: loginCookie } });
    assert.equal(back.status, 302);
    assert.equal(back.headers.get('location'), '/');
    const cookies = back.headers.getSetCookie();
    assert.match(cookies[0] ?? '', /^cutover_login=; Max-Age=0;/);
    const session = /^cutover_session=([^;]+); Max-Age=28800; Path=\/; HttpOnly; Secure; SameSite=Lax$/.exec(
      cookies[1] ?? '',
    )?.[1];
    assert.equal(w.sealer.unseal(session, 'session', isSession)?.name, user);
  }
  assert.deepEqual(w.service.armed, ['admin'], "a viewer's sign-in arms nothing");
  assert.deepEqual(w.logs, ['sign-in: viewer', 'sign-in: admin (sovereign-admin)']);
});

/** Reads an SSE body until `pattern` shows up or the stream ends; returns everything read so far. */
function sseReader(res: Response) {
  const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
  let text = '';
  let ended = false;
  return {
    get text() {
      return text;
    },
    async until(pattern: RegExp | 'end'): Promise<boolean> {
      while (!ended && (pattern === 'end' || !pattern.test(text))) {
        const { value, done } = await reader.read();
        if (done) ended = true;
        else text += value;
      }
      return pattern === 'end' ? ended : pattern.test(text);
    },
    cancel: () => reader.cancel(),
  };
}

test('events: a snapshot, then live phases from the status, closing after cutover-completed; a new subscriber gets the replay', async () => {
  const w = world({ status: { cutoverComplete: 'false' } });
  const res = await w.call(EVENTS, { as: w.viewer });
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type') ?? '', /^text\/event-stream/);
  assert.equal(res.headers.get('x-accel-buffering'), 'no');
  assert.equal(res.headers.get('cache-control'), 'no-store');
  assert.equal(res.headers.get('content-security-policy'), CONTENT_SECURITY_POLICY);
  const sse = sseReader(res);
  try {
    assert.ok(await sse.until(/event: cutover-status\ndata: \{.*\}\n\n/));
    const snapshot = JSON.parse(/^data: (.*)$/m.exec(sse.text)?.[1] ?? '{}');
    assert.deepEqual(snapshot, {
      time: snapshot.time,
      phase: 'cutover-status',
      level: 'info',
      message: '{"cutoverComplete":"false"}',
    });

    // Another engine writes the status; the feed's next poll tells every subscriber.
    const started = new Date().toISOString();
    w.state.status = {
      cutoverComplete: 'false',
      cutoverLastAttemptStartedAt: started,
      'step.gitea-mirror.result': 'running',
      'step.gitea-mirror.jobName': 'cutover-gitea-mirror-1',
    };
    await w.feed.poll();
    assert.ok(
      await sse.until(/event: cutover-step-started\ndata: .*"step":"gitea-mirror","jobName":"cutover-gitea-mirror-1"/),
    );
    w.state.status = { ...w.state.status, 'step.gitea-mirror.result': 'success', cutoverComplete: 'true' };
    await w.feed.poll();
    assert.ok(await sse.until('end'), 'the stream closes after cutover-completed');
    assert.deepEqual(
      [...sse.text.matchAll(/^event: (.*)$/gm)].map((m) => m[1]),
      ['cutover-status', 'cutover-started', 'cutover-step-started', 'cutover-step-finished', 'cutover-completed'],
    );
  } finally {
    await sse.cancel();
  }

  const replay = await (await w.call(EVENTS, { as: w.viewer })).text();
  assert.deepEqual(
    [...replay.matchAll(/^event: (.*)$/gm)].map((m) => m[1]),
    ['cutover-started', 'cutover-step-started', 'cutover-step-finished', 'cutover-completed', 'cutover-status'],
    'the run replayed, a snapshot, and the end',
  );
  assert.match(
    replay,
    /^event: cutover-completed\ndata: \{"time":"[^"]+","phase":"cutover-completed","level":"info","message":"cutover complete: the Sovereign is sovereign"\}\n\n/m,
  );
});
