// Harbor's `/v2/` registry endpoint: a bearer token from `/service/token` decides pull/push per
// repository, then the request is streamed to the backing docker-registry of the project (the
// push store or the project's pull-through cache). A proxy-cache project refuses pushes.
import { request as httpRequest, type Agent, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Backends } from './backends.ts';
import { registryErrors, sendJson } from './http.ts';
import type { HarborState } from './state.ts';
import type { TokenService } from './token.ts';

const SERVICE = 'harbor-registry';

export interface RegistryContext {
  state: HarborState;
  backends: Backends;
  tokens: TokenService;
  agent: Agent;
  externalUrl: string;
}

export async function serveRegistry(
  ctx: RegistryContext,
  req: IncomingMessage,
  res: ServerResponse,
  url: URL,
): Promise<void> {
  const method = req.method ?? 'GET';
  const bearer = /^Bearer (.+)$/i.exec(req.headers.authorization ?? '')?.[1];
  const claims = bearer ? ctx.tokens.verify(bearer) : undefined;
  if (url.pathname === '/v2' || url.pathname === '/v2/') {
    if (!claims) return challenge(ctx, res, undefined);
    return sendJson(res, 200, {});
  }
  const m = /^\/v2\/(.+?)\/(manifests\/[^/]+|blobs\/uploads(?:\/.*)?|blobs\/[^/]+|tags\/list|referrers\/[^/]+)$/.exec(
    url.pathname,
  );
  if (!m) return sendJson(res, 404, registryErrors('NAME_UNKNOWN', `unsupported registry path ${url.pathname}`));
  const name = m[1] as string;
  const rest = m[2] as string;
  const action = method === 'GET' || method === 'HEAD' ? 'pull' : 'push';
  const allowed = claims?.access.some((g) => g.resource === `repository:${name}` && g.actions.includes(action));
  if (!allowed) return challenge(ctx, res, `repository:${name}:${action === 'push' ? 'pull,push' : 'pull'}`);
  const [projectName, ...repoParts] = name.split('/');
  const project = ctx.state.project(projectName ?? '', true);
  if (!project || repoParts.length === 0)
    return sendJson(res, 404, registryErrors('NAME_UNKNOWN', `repository ${name} not known to registry`));
  if (project.registry_id !== null && action === 'push') {
    return sendJson(res, 403, registryErrors('DENIED', `can not push artifact to a proxy project: ${project.name}`));
  }
  const backendPath = `/v2/${ctx.backends.backendRepo(project, repoParts.join('/'))}/${rest}${url.search}`;
  forward(ctx, req, res, ctx.backends.backendUrl(project), backendPath);
}

function challenge(ctx: RegistryContext, res: ServerResponse, scope: string | undefined): void {
  const realm = `${ctx.externalUrl}/service/token`;
  res.setHeader('www-authenticate', `Bearer realm="${realm}",service="${SERVICE}"${scope ? `,scope="${scope}"` : ''}`);
  sendJson(res, 401, registryErrors('UNAUTHORIZED', 'unauthorized to access repository'));
}

/** Streams the request to a backing registry and the answer back, bodies never buffered. */
function forward(ctx: RegistryContext, req: IncomingMessage, res: ServerResponse, backend: string, path: string): void {
  const target = new URL(backend);
  const headers = { ...req.headers };
  delete headers.authorization;
  // Keep the client's Host, and say which scheme it used (as Harbor's TLS-terminating front does), so
  // upload Locations the store builds point back at this double.
  headers['x-forwarded-proto'] = new URL(ctx.externalUrl).protocol.replace(':', '');
  const upstream = httpRequest(
    { host: target.hostname, port: target.port, method: req.method, path, headers, agent: ctx.agent },
    (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      // A client gone mid-answer must not leave the backend response paused on its socket.
      res.on('close', () => answer.destroy());
      answer.pipe(res);
    },
  );
  upstream.on('error', (error) => {
    if (!res.headersSent) sendJson(res, 502, registryErrors('UNAVAILABLE', `backing registry: ${error.message}`));
    else res.destroy(error);
  });
  req.pipe(upstream);
}
