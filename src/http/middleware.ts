// What every route shares: the headers and request count on every response, the error mapping
// (every error is `{"error":"<code>","detail":"…"}` with its status decided in httpStatusFor, here
// only), and the session gates — a signed-in operator, and for state changes also CSRF and origin.
import type { Context, ErrorHandler, MiddlewareHandler } from 'hono';
import { getCookie } from 'hono/cookie';
import { CutoverError, PeerError, redact } from '../core/errors.ts';
import type { CutoverMetrics } from './metrics.ts';
import { RateLimited } from './rate-limit.ts';
import { isSession, SESSION_COOKIE, type Session, type SessionSealer } from './session.ts';

/** HTTP status for every error the API returns — decided here only. */
function httpStatusFor(error: unknown): {
  status: 200 | 400 | 401 | 403 | 409 | 424 | 429 | 500 | 502 | 503;
  code: string;
} {
  if (error instanceof CutoverError) {
    const byCode: Record<string, 400 | 401 | 403 | 409 | 424 | 429 | 502 | 503> = {
      'invalid-request': 400,
      unauthenticated: 401,
      'missing-bearer': 401,
      'not-sovereign-admin': 403,
      'not-inventory-reader': 403,
      'rate-limited': 429,
      'csrf-rejected': 403,
      'unauthorized-sa': 403,
      'in-progress': 409,
      'intake-not-request': 409,
      'nothing-pending': 409,
      'nothing-running': 409,
      'stale-revision': 409,
      'status-conflict': 409,
      'no-steps-found': 424,
      'auth-unconfigured': 503,
      'inventory-timeout': 503,
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

/** The app's onError: routes throw, this answers (and logs what is ours to fix: 5xx). */
export function errorResponse(log: (line: string) => void): ErrorHandler {
  return (error, c) => {
    const { status, code } = httpStatusFor(error);
    const detail = redact(error instanceof Error ? error.message : String(error));
    if (status >= 500) log(`${c.req.method} ${c.req.path}: ${status} ${code}: ${detail}`);
    if (error instanceof RateLimited) c.header('Retry-After', String(error.retryAfterSeconds));
    return c.json({ error: code, detail }, status === 200 ? 500 : status);
  };
}

/**
 * The console's Content-Security-Policy: its own script and style only (no inline script, no eval),
 * talks to this origin only, and no other site may frame it (clickjacking the Achieve button).
 */
export const CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self'",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

/** On every response, errors and the event stream included: the CSP, no framing, no sniffing, no caching; a count by route. */
export function everyResponse(metrics: Pick<CutoverMetrics, 'requests'>): MiddlewareHandler {
  return async (c, next) => {
    await next();
    c.header('Content-Security-Policy', CONTENT_SECURITY_POLICY);
    c.header('X-Frame-Options', 'DENY');
    c.header('X-Content-Type-Options', 'nosniff');
    c.header('Referrer-Policy', 'same-origin');
    c.header('Cache-Control', 'no-store');
    metrics.requests.inc({ route: c.req.routePath, code: String(c.res.status) });
  };
}

/** What the session gates leave for the route: `c.var.session`. */
export interface SessionEnv {
  Variables: { session: Session };
}

/** The operator's session from its sealed cookie, if any (tampered, foreign or expired: none). */
export function readSession(c: Context, sealer: SessionSealer): Session | undefined {
  return sealer.unseal(getCookie(c, SESSION_COOKIE), 'session', isSession);
}

function signedIn(c: Context, sealer: SessionSealer): Session {
  const s = readSession(c, sealer);
  if (!s) throw new CutoverError('unauthenticated', 'sign in first (GET /auth/login)');
  return s;
}

/** Reads: a session. */
export function requireSession(sealer: SessionSealer): MiddlewareHandler<SessionEnv> {
  return async (c, next) => {
    c.set('session', signedIn(c, sealer));
    await next();
  };
}

/** State changes: a session, its CSRF token in X-CSRF-Token, and (when sent) our own Origin. */
export function requireChange(sealer: SessionSealer, publicURL: string): MiddlewareHandler<SessionEnv> {
  return async (c, next) => {
    const s = signedIn(c, sealer);
    const origin = c.req.header('origin');
    if (origin && origin !== new URL(c.req.url).origin && origin !== publicURL.replace(/\/+$/, ''))
      throw new CutoverError('csrf-rejected', `cross-origin request from ${origin}`);
    if (!sealer.csrfValid(s, c.req.header('x-csrf-token')))
      throw new CutoverError('csrf-rejected', 'missing or wrong X-CSRF-Token');
    c.set('session', s);
    await next();
  };
}
