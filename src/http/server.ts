// `cutover serve`'s HTTP surface: the original's routes (drop-in), operator sign-in, the console.
// Every error is `{"error":"<code>","detail":"…"}` with its status decided in httpStatusFor.
import { readFileSync } from 'node:fs';
import type { Context } from 'hono';
import { Hono } from 'hono';
import { deleteCookie, getCookie, setCookie } from 'hono/cookie';
import { streamSSE } from 'hono/streaming';
import { CutoverError, PeerError, redact } from '../core/errors.ts';
import { statusReport, stepKey, type StatusData } from '../core/status.ts';
import type { Values } from '../core/values.ts';
import { AUTO_KEYS, type CutoverControl } from './cutover-control.ts';
import type { CutoverMetrics } from './metrics.ts';
import type { OidcLogin } from './oidc-login.ts';
import {
  LOGIN_COOKIE,
  SESSION_COOKIE,
  SESSION_SECONDS,
  type PendingLogin,
  type Session,
  type SessionSealer,
} from './session.ts';
import { TERMINAL, type FeedEvent, type StatusFeed } from './status-feed.ts';

export interface ServerParts {
  values: Values;
  service: CutoverControl;
  feed: StatusFeed;
  metrics: CutoverMetrics;
  login: OidcLogin;
  sealer: SessionSealer;
  log: (line: string) => void;
}

/** HTTP status for every error the API returns — decided here only. */
export function httpStatusFor(error: unknown): { status: 200 | 401 | 403 | 409 | 424 | 500 | 502 | 503; code: string } {
  if (error instanceof CutoverError) {
    const byCode: Record<string, 401 | 403 | 409 | 424 | 502 | 503> = {
      unauthenticated: 401,
      'missing-bearer': 401,
      'not-sovereign-admin': 403,
      'csrf-rejected': 403,
      'unauthorized-sa': 403,
      'in-progress': 409,
      'no-steps-found': 424,
      'auth-unconfigured': 503,
      'identity-provider-unavailable': 503,
      'sign-in-failed': 401,
    };
    const code =
      error.code === 'in-progress'
        ? 'cutover-in-progress'
        : error.code === 'invalid-step-configmap'
          ? 'step-discovery-failed'
          : error.code;
    return { status: byCode[error.code] ?? 502, code };
  }
  if (error instanceof PeerError) return { status: 502, code: 'peer-failed' };
  return { status: 500, code: 'internal-error' };
}

const CONSOLE_DIR = new URL('./console/', import.meta.url);
const asset = (name: string) => readFileSync(new URL(name, CONSOLE_DIR), 'utf8');

export function buildApp(parts: ServerParts): Hono {
  const { values, service, feed, metrics, login, sealer, log } = parts;
  const app = new Hono();
  const files = { html: asset('index.html'), js: asset('console.js'), css: asset('console.css') };

  app.use(async (c, next) => {
    await next();
    c.header('X-Content-Type-Options', 'nosniff');
    c.header('Referrer-Policy', 'same-origin');
    if (!c.req.path.startsWith('/api/v1/sovereign/cutover/events')) c.header('Cache-Control', 'no-store');
    metrics.requests.inc({ route: c.req.routePath, code: String(c.res.status) });
  });

  app.onError((error, c) => {
    const { status, code } = httpStatusFor(error);
    const detail = redact(error instanceof Error ? error.message : String(error));
    if (status >= 500) log(`${c.req.method} ${c.req.path}: ${status} ${code}: ${detail}`);
    return c.json({ error: code, detail }, status === 200 ? 500 : status);
  });

  const session = (c: Context): Session | undefined => sealer.unseal<Session>(getCookie(c, SESSION_COOKIE));
  const requireSession = (c: Context): Session => {
    const s = session(c);
    if (!s) throw new CutoverError('unauthenticated', 'sign in first (GET /auth/login)');
    return s;
  };
  /** State changes: a session, its CSRF token in X-CSRF-Token, and (when sent) our own Origin. */
  const requireChange = (c: Context): Session => {
    const s = requireSession(c);
    const origin = c.req.header('origin');
    if (origin && origin !== new URL(c.req.url).origin && origin !== values.api.publicURL.replace(/\/+$/, ''))
      throw new CutoverError('csrf-rejected', `cross-origin request from ${origin}`);
    if (!sealer.csrfValid(s, c.req.header('x-csrf-token')))
      throw new CutoverError('csrf-rejected', 'missing or wrong X-CSRF-Token');
    return s;
  };
  const cookie = { httpOnly: true, secure: true, sameSite: 'Lax', path: '/' } as const;

  // ---- console and health
  app.get('/', (c) => c.html(files.html));
  app.get('/console.js', (c) => c.body(files.js, 200, { 'content-type': 'text/javascript; charset=utf-8' }));
  app.get('/console.css', (c) => c.body(files.css, 200, { 'content-type': 'text/css; charset=utf-8' }));
  app.get('/healthz', (c) => c.json({ ok: true }));
  app.get('/metrics', async (c) =>
    c.body(await metrics.registry.metrics(), 200, { 'content-type': metrics.registry.contentType }),
  );

  // ---- operator sign-in (OpenID Connect)
  const redirectURI = (c: Context) =>
    `${(values.api.publicURL || new URL(c.req.url).origin).replace(/\/+$/, '')}/auth/callback`;
  app.get('/auth/login', async (c) => {
    const returnTo = c.req.query('returnTo') ?? '/';
    const { url, pending } = await login.begin(
      redirectURI(c),
      returnTo.startsWith('/') && !returnTo.startsWith('//') ? returnTo : '/',
    );
    setCookie(c, LOGIN_COOKIE, sealer.seal(pending), { ...cookie, maxAge: 600 });
    return c.redirect(url, 302);
  });
  app.get('/auth/callback', async (c) => {
    const pending = sealer.unseal<PendingLogin>(getCookie(c, LOGIN_COOKIE));
    if (!pending)
      throw new CutoverError('sign-in-failed', 'the sign-in expired or was started elsewhere; sign in again');
    const callback = new URL(c.req.url);
    const fixed = new URL(`${redirectURI(c)}${callback.search}`);
    const s = await login.finish(fixed, pending);
    deleteCookie(c, LOGIN_COOKIE, cookie);
    setCookie(c, SESSION_COOKIE, sealer.seal(s), { ...cookie, maxAge: SESSION_SECONDS });
    log(`sign-in: ${s.name}${s.admin ? ' (sovereign-admin)' : ''}`);
    if (s.admin)
      await service.armAutoTrigger(s.name).catch((error: unknown) => log(`auto trigger: ${redact(String(error))}`));
    return c.redirect(pending.returnTo, 302);
  });
  app.post('/auth/logout', (c) => {
    requireChange(c);
    deleteCookie(c, SESSION_COOKIE, cookie);
    return c.json({ ok: true });
  });
  app.get('/api/v1/session', (c) => {
    const s = session(c);
    if (!s) return c.json({ authenticated: false, signInURL: '/auth/login' });
    return c.json({
      authenticated: true,
      user: s.name,
      groups: s.groups,
      admin: s.admin,
      csrfToken: sealer.csrfToken(s),
    });
  });

  // ---- the original's routes
  const report = async () => {
    const data = (await feed.poll()) ?? {};
    if (feed.error) throw new CutoverError('status-read-failed', feed.error);
    // The tether counts as last taken; a stale inventory is refreshed in the background, never waited for.
    const last = service.lastTethers;
    if (!last || Date.now() - Date.parse(last.takenAt) > 30_000)
      void service.tethers().catch((error: unknown) => log(`tether inventory: ${redact(String(error))}`));
    return {
      ...statusReport(data),
      ...extras(values, data),
      tethers: last ? { ...last.summary, takenAt: last.takenAt } : null,
    };
  };
  app.get('/api/v1/sovereign/cutover/status', async (c) => {
    requireSession(c);
    return c.json(await report());
  });
  app.get('/api/v1/sovereign/cutover/tethers', async (c) => {
    requireSession(c);
    const snapshot = await service.tethers(c.req.query('fresh') === 'true' ? 0 : 30_000);
    const all = c.req.query('all') === 'true';
    return c.json({
      takenAt: snapshot.takenAt,
      summary: snapshot.summary,
      tethers: all ? snapshot.tethers : snapshot.tethers.filter((t) => t.state !== 'pivoted'),
    });
  });
  app.post('/api/v1/sovereign/cutover/start', async (c) => {
    const s = requireChange(c);
    if (!s.admin) throw new CutoverError('not-sovereign-admin', `${s.name} is not in ${values.auth.oidc.adminGroup}`);
    await service.start('operator');
    return c.json(await report());
  });
  app.get('/api/v1/sovereign/cutover/events', (c) => {
    requireSession(c);
    c.header('X-Accel-Buffering', 'no');
    return streamSSE(c, async (stream) => {
      const send = (e: FeedEvent) => stream.writeSSE({ event: e.phase, data: JSON.stringify(e) });
      const replay = [...feed.replay];
      for (const e of replay) await send(e);
      const data = (await feed.poll()) ?? {};
      await send({
        time: new Date().toISOString(),
        phase: 'cutover-status',
        level: 'info',
        message: JSON.stringify(data),
      });
      const last = replay.at(-1);
      if ((last && TERMINAL.has(last.phase)) || data.cutoverComplete === 'true') return;
      await new Promise<void>((resolve) => {
        const heartbeat = setInterval(() => void stream.write(': keep-alive\n\n'), 15_000);
        const done = () => {
          clearInterval(heartbeat);
          feed.off('event', onEvent);
          resolve();
        };
        const onEvent = (e: FeedEvent) => {
          void send(e).then(() => TERMINAL.has(e.phase) && done(), done);
        };
        feed.on('event', onEvent);
        stream.onAbort(done);
      });
    });
  });
  app.all('/api/v1/internal/cutover/trigger', async (c) => {
    if (c.req.method !== 'POST') return c.json({ error: 'method-not-allowed', detail: 'POST only' }, 405);
    const bearer = /^Bearer\s+(\S+)$/i.exec(c.req.header('authorization') ?? '')?.[1];
    if (!bearer) throw new CutoverError('missing-bearer', 'Authorization: Bearer <ServiceAccount token> is required');
    const { username, allowed } = await service.reviewToken(bearer);
    if (!allowed)
      throw new CutoverError(
        'unauthorized-sa',
        `${username || 'an unauthenticated token'} may not trigger the cutover`,
      );
    log(`internal trigger by ${username}`);
    await service.start('internal');
    return c.json(await report());
  });
  return app;
}

/** What the console needs beyond the original's status: the egress window, the auto trigger, and what will change. */
function extras(values: Values, data: StatusData) {
  const egressStarted = data[stepKey('egress-block-test', 'startedAt')];
  const egressRunning = data[stepKey('egress-block-test', 'result')] === 'running';
  return {
    egressWindow:
      egressRunning && egressStarted
        ? { startedAt: egressStarted, durationSeconds: values.egressTest.durationSeconds }
        : null,
    autoTrigger: {
      enabled: values.trigger.auto,
      delaySeconds: values.trigger.autoDelaySeconds,
      armedAt: data[AUTO_KEYS.armedAt] || null,
      dueAt: data[AUTO_KEYS.dueAt] || null,
      firedAt: data[AUTO_KEYS.firedAt] || null,
    },
    changes: [
      `Git: mirror ${values.upstream.repoURL} into Gitea ${values.gitea.org}/${values.gitea.repo} and point Flux GitRepository ${values.gitopsRepository.namespace}/${values.gitopsRepository.name} at it`,
      `Registry: copy every image and chart in use into Harbor projects ${values.harbor.hostProjects.map((r) => r.project).join(', ')}`,
      `Nodes: containerd on every node pulls ${values.harbor.hostProjects.map((r) => r.host).join(', ')} from the local Harbor`,
      `Helm: OCI HelmRepositories under ${values.helmRepositories.upstreamPrefix} move to the local Harbor`,
      `App: ${values.catalystAPI.namespace}/${values.catalystAPI.deploymentName} gets ${values.catalystAPI.envVar} = the local Gitea repository (rolls out)`,
      `Proof: upstream egress blocked for ${values.egressTest.durationSeconds} s while Flux must stay Ready and fresh pulls must work`,
    ],
  };
}
