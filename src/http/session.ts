// Operator sessions: sealed (AES-256-GCM) in a Secure, HttpOnly, SameSite=Lax cookie, so any
// replica can read them and nothing about the user is kept server-side. State-changing requests
// must carry the session's CSRF token (an HMAC of the session id) in `X-CSRF-Token`.
import { createCipheriv, createDecipheriv, createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

export const SESSION_COOKIE = 'cutover_session';
export const LOGIN_COOKIE = 'cutover_login';
export const SESSION_SECONDS = 8 * 3600;

export interface Session {
  sid: string;
  sub: string;
  name: string;
  groups: string[];
  admin: boolean;
  /** Seconds since the epoch. */
  exp: number;
}

/** What a sign-in in flight remembers between the redirect to the provider and the callback. */
export interface PendingLogin {
  state: string;
  nonce: string;
  verifier: string;
  returnTo: string;
  exp: number;
}

/** What a sealed cookie is for; bound into its seal. */
export type SealPurpose = 'session' | 'login';
const TAG_BYTES = 16;

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null;
const isString = (v: unknown): v is string => typeof v === 'string';

export function isSession(v: unknown): v is Session {
  return (
    isRecord(v) &&
    isString(v.sid) &&
    v.sid.length > 0 &&
    isString(v.sub) &&
    isString(v.name) &&
    Array.isArray(v.groups) &&
    v.groups.every(isString) &&
    typeof v.admin === 'boolean' &&
    typeof v.exp === 'number'
  );
}

export function isPendingLogin(v: unknown): v is PendingLogin {
  return (
    isRecord(v) &&
    isString(v.state) &&
    isString(v.nonce) &&
    isString(v.verifier) &&
    isString(v.returnTo) &&
    typeof v.exp === 'number'
  );
}

/**
 * Where a sign-in may send the browser back to: a path on this origin only. `//host`, `/\host`
 * (browsers read a backslash as a slash) and anything with a scheme or control characters are not.
 */
export function safeReturnTo(returnTo: string | undefined): string {
  if (!returnTo || !returnTo.startsWith('/') || returnTo.startsWith('//')) return '/';
  if (returnTo.includes('\\') || [...returnTo].some((ch) => ch.charCodeAt(0) < 0x20 || ch.charCodeAt(0) === 0x7f))
    return '/';
  try {
    // Resolved against a placeholder origin, it must stay on it.
    return new URL(returnTo, 'https://origin.invalid').origin === 'https://origin.invalid' ? returnTo : '/';
  } catch {
    return '/';
  }
}

export class SessionSealer {
  readonly #key: Buffer;

  /** `secret`: the shared session key (any length; hashed to 256 bits). */
  constructor(secret: string) {
    this.#key = createHash('sha256').update(`sovereign-cutover session\0${secret}`).digest();
  }

  /**
   * Seals `value` for one `purpose`: the purpose is authenticated data, so a value sealed as a pending
   * sign-in can never be unsealed as a session (and the reverse) even under the same key.
   */
  seal(value: object, purpose: SealPurpose): string {
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.#key, iv, { authTagLength: TAG_BYTES });
    cipher.setAAD(Buffer.from(purpose));
    const body = Buffer.concat([cipher.update(JSON.stringify(value), 'utf8'), cipher.final()]);
    return Buffer.concat([iv, cipher.getAuthTag(), body]).toString('base64url');
  }

  /**
   * The value sealed for `purpose`, or undefined when it was tampered with, sealed by another key or
   * for another purpose, truncated, expired, or not of the shape `valid` expects.
   */
  unseal<T extends { exp: number }>(
    text: string | undefined,
    purpose: SealPurpose,
    valid: (value: unknown) => value is T,
  ): T | undefined {
    if (!text) return undefined;
    try {
      const raw = Buffer.from(text, 'base64url');
      if (raw.length < 12 + TAG_BYTES) return undefined;
      // A full 16-byte tag only: GCM would otherwise accept a truncated one, which is forgeable.
      const decipher = createDecipheriv('aes-256-gcm', this.#key, raw.subarray(0, 12), { authTagLength: TAG_BYTES });
      decipher.setAAD(Buffer.from(purpose));
      decipher.setAuthTag(raw.subarray(12, 12 + TAG_BYTES));
      const value: unknown = JSON.parse(
        Buffer.concat([decipher.update(raw.subarray(12 + TAG_BYTES)), decipher.final()]).toString('utf8'),
      );
      return valid(value) && value.exp * 1000 > Date.now() ? value : undefined;
    } catch {
      return undefined;
    }
  }

  csrfToken(session: Session): string {
    return createHmac('sha256', this.#key).update(`csrf\0${session.sid}`).digest('base64url');
  }

  csrfValid(session: Session, token: string | undefined): boolean {
    if (!token) return false;
    const want = Buffer.from(this.csrfToken(session));
    const got = Buffer.from(token);
    return want.length === got.length && timingSafeEqual(want, got);
  }
}
