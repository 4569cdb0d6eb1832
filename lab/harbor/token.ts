// Registry tokens as Harbor's token service issues them (`/service/token`, served here too): an
// HMAC-signed grant of actions per repository scope. The signing key lives only in the double's memory.
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { errors, isAdmin, sendJson } from './http.ts';
import { isPublic, type HarborState, type RobotRecord } from './state.ts';

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
function parseScopes(scopes: string[]): Grant[] {
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

export interface TokenContext {
  state: HarborState;
  tokens: TokenService;
  admin: { username: string; password: string };
}

/** The robot whose basic credentials these are (enabled, secret matching), if any. */
function robotOf(req: IncomingMessage, state: HarborState): RobotRecord | undefined {
  const header = req.headers.authorization ?? '';
  if (!header.startsWith('Basic ')) return undefined;
  const [user, ...rest] = Buffer.from(header.slice(6), 'base64').toString().split(':');
  return state.robots.find((r) => r.name === user && r.secret === rest.join(':') && !r.disable);
}

/**
 * `/service/token`: the admin gets what it asks for; a robot what its permissions name (and pulls of
 * public projects); anonymous only pulls of public projects.
 */
export function serveToken(ctx: TokenContext, req: IncomingMessage, res: ServerResponse, url: URL): void {
  const header = req.headers.authorization ?? '';
  let subject = 'anonymous';
  const robot = robotOf(req, ctx.state);
  if (header) {
    if (!isAdmin(req, ctx.admin) && !robot) return sendJson(res, 401, errors('UNAUTHORIZED', 'invalid credentials'));
    subject = robot ? robot.name : ctx.admin.username;
  }
  const robotMay = (project: string, action: string) =>
    robot?.permissions.some(
      (p) =>
        (p.namespace === project || p.namespace === '*') &&
        p.access.some((a) => a.resource === 'repository' && a.action === action),
    ) ?? false;
  const granted: Grant[] = [];
  for (const wanted of parseScopes(url.searchParams.getAll('scope'))) {
    if (!wanted.resource.startsWith('repository:')) continue;
    const project = ctx.state.project(wanted.resource.slice('repository:'.length).split('/')[0] ?? '', true);
    if (!project) continue;
    const actions = wanted.actions.filter((a) =>
      robot
        ? robotMay(project.name, a) || (a === 'pull' && isPublic(project))
        : a === 'pull'
          ? subject !== 'anonymous' || isPublic(project)
          : subject !== 'anonymous',
    );
    if (actions.length) granted.push({ resource: wanted.resource, actions });
  }
  const token = ctx.tokens.issue(subject, granted, 1800);
  sendJson(res, 200, { token, access_token: token, expires_in: 1800, issued_at: new Date().toISOString() });
}
