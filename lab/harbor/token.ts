// Registry tokens as Harbor's token service issues them (`/service/token`): an HMAC-signed
// grant of actions per repository scope. The signing key lives only in the double's memory.
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

export interface Grant {
  /** `repository:<project>/<repo>` */
  resource: string;
  actions: string[];
}

interface Payload {
  sub: string;
  access: Grant[];
  exp: number;
}

export class TokenService {
  readonly #key = randomBytes(32);

  issue(subject: string, access: Grant[], ttlSeconds: number): string {
    const payload: Payload = { sub: subject, access, exp: Math.floor(Date.now() / 1000) + ttlSeconds };
    const body = Buffer.from(JSON.stringify(payload)).toString('base64url');
    return `${body}.${this.#sign(body)}`;
  }

  /** The grants of a valid, unexpired token; undefined otherwise. */
  verify(token: string): Payload | undefined {
    const [body, signature] = token.split('.');
    if (!body || !signature) return undefined;
    const expected = Buffer.from(this.#sign(body));
    const given = Buffer.from(signature);
    if (expected.length !== given.length || !timingSafeEqual(expected, given)) return undefined;
    const payload = JSON.parse(Buffer.from(body, 'base64url').toString()) as Payload;
    return payload.exp > Date.now() / 1000 ? payload : undefined;
  }

  #sign(body: string): string {
    return createHmac('sha256', this.#key).update(body).digest('base64url');
  }
}

/** Parses `repository:a/b:pull,push` scopes (several may be space-separated or repeated). */
export function parseScopes(scopes: string[]): Grant[] {
  const grants: Grant[] = [];
  for (const scope of scopes.flatMap((s) => s.split(' ')).filter(Boolean)) {
    const first = scope.indexOf(':');
    const last = scope.lastIndexOf(':');
    if (first < 0 || last <= first) continue;
    grants.push({
      resource: scope.slice(0, last),
      actions: scope
        .slice(last + 1)
        .split(',')
        .filter(Boolean),
    });
  }
  return grants;
}
