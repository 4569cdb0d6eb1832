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

export class SessionSealer {
  readonly #key: Buffer;

  /** `secret`: the shared session key (any length; hashed to 256 bits). */
  constructor(secret: string) {
    this.#key = createHash('sha256').update(`sovereign-cutover session\0${secret}`).digest();
  }

  seal(value: object): string {
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.#key, iv);
    const body = Buffer.concat([cipher.update(JSON.stringify(value), 'utf8'), cipher.final()]);
    return Buffer.concat([iv, cipher.getAuthTag(), body]).toString('base64url');
  }

  /** The sealed value, or undefined when it was tampered with, sealed by another key, or expired. */
  unseal<T extends { exp: number }>(text: string | undefined): T | undefined {
    if (!text) return undefined;
    try {
      const raw = Buffer.from(text, 'base64url');
      const decipher = createDecipheriv('aes-256-gcm', this.#key, raw.subarray(0, 12));
      decipher.setAuthTag(raw.subarray(12, 28));
      const value = JSON.parse(
        Buffer.concat([decipher.update(raw.subarray(28)), decipher.final()]).toString('utf8'),
      ) as T;
      return value.exp * 1000 > Date.now() ? value : undefined;
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
