// Operator sign-in (OpenID Connect code flow): the login redirect, the callback that seals the
// session into a cookie (and, for a sovereign-admin, arms the auto trigger), logout, and what the
// console asks to learn who is signed in and their CSRF token.
import type { Context } from 'hono';
import { Hono } from 'hono';
import { deleteCookie, getCookie, setCookie } from 'hono/cookie';
import { CutoverError, redact } from '../../core/errors.ts';
import type { Values } from '../../core/values.ts';
import type { CutoverControl, SignIn } from '../cutover-control.ts';
import { readSession, requireChange, type SessionEnv } from '../middleware.ts';
import {
  isPendingLogin,
  LOGIN_COOKIE,
  safeReturnTo,
  SESSION_COOKIE,
  SESSION_SECONDS,
  type SessionSealer,
} from '../session.ts';

export interface AuthParts {
  values: Values;
  service: Pick<CutoverControl, 'armAutoTrigger'>;
  login: SignIn;
  sealer: SessionSealer;
  log: (line: string) => void;
}

const COOKIE = { httpOnly: true, secure: true, sameSite: 'Lax', path: '/' } as const;

export function authRoutes({ values, service, login, sealer, log }: AuthParts): Hono<SessionEnv> {
  const app = new Hono<SessionEnv>();
  // The provider sends the browser back to the public URL when one is set (behind a proxy the request's own is not it).
  const redirectURI = (c: Context) =>
    `${(values.api.publicURL || new URL(c.req.url).origin).replace(/\/+$/, '')}/auth/callback`;

  app.get('/auth/login', async (c) => {
    const { url, pending } = await login.begin(redirectURI(c), safeReturnTo(c.req.query('returnTo')));
    setCookie(c, LOGIN_COOKIE, sealer.seal(pending, 'login'), { ...COOKIE, maxAge: 600 });
    return c.redirect(url, 302);
  });
  app.get('/auth/callback', async (c) => {
    const pending = sealer.unseal(getCookie(c, LOGIN_COOKIE), 'login', isPendingLogin);
    if (!pending)
      throw new CutoverError('sign-in-failed', 'the sign-in expired or was started elsewhere; sign in again');
    const callback = new URL(c.req.url);
    const fixed = new URL(`${redirectURI(c)}${callback.search}`);
    const s = await login.finish(fixed, pending);
    deleteCookie(c, LOGIN_COOKIE, COOKIE);
    setCookie(c, SESSION_COOKIE, sealer.seal(s, 'session'), { ...COOKIE, maxAge: SESSION_SECONDS });
    log(`sign-in: ${s.name}${s.admin ? ' (sovereign-admin)' : ''}`);
    if (s.admin)
      await service.armAutoTrigger(s.name).catch((error: unknown) => log(`auto trigger: ${redact(String(error))}`));
    // Checked again: the sealed value is ours, but the rule may have tightened since it was sealed.
    return c.redirect(safeReturnTo(pending.returnTo), 302);
  });
  app.post('/auth/logout', requireChange(sealer, values.api.publicURL), (c) => {
    deleteCookie(c, SESSION_COOKIE, COOKIE);
    return c.json({ ok: true });
  });
  app.get('/api/v1/session', (c) => {
    const s = readSession(c, sealer);
    if (!s) return c.json({ authenticated: false, signInURL: '/auth/login' });
    return c.json({
      authenticated: true,
      user: s.name,
      groups: s.groups,
      admin: s.admin,
      csrfToken: sealer.csrfToken(s),
    });
  });
  return app;
}
