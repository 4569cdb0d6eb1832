// The lab's Harbor v2.0 API double. It is a double of Harbor's *API* only: every byte of image
// content lives in real `docker-registry` instances — one store for push projects and one
// pull-through cache per proxy-cache project. Every API request and response is validated
// against specs/harbor/swagger.yaml (vendored); a request the spec forbids gets 400.
// This file is the server: dispatch, validation and the double's parts; the routes live in
// api-*.ts, the /v2 proxy in registry-proxy.ts, /service/token in token.ts.
import { peerServer, type ServingCert } from '../peers-pki.ts';
import { Agent, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { join } from 'node:path';
import { startRegistry, stopRegistry } from '../registry.ts';
import { SwaggerValidationError, SwaggerValidator } from '../swagger-validator.ts';
import { projectHandlers } from './api-projects.ts';
import { registryHandlers } from './api-registries.ts';
import { repositoryHandlers } from './api-repositories.ts';
import { robotHandlers } from './api-robots.ts';
import { systemHandlers } from './api-system.ts';
import { Backends } from './backends.ts';
import {
  ApiError,
  cryptoId,
  errors,
  isAdmin,
  readBody,
  sendJson,
  type ApiResult,
  type Handler,
  type HarborParts,
} from './http.ts';
import { serveRegistry, type RegistryContext } from './registry-proxy.ts';
import { HarborState } from './state.ts';
import { serveToken, TokenService, type TokenContext } from './token.ts';

export interface HarborDoubleConfig {
  name: string;
  /** The lab network address it serves on. */
  address: string;
  port: number;
  stateDir: string;
  storePort: number;
  admin: { username: string; password: string };
  swaggerPath: string;
  /** Serve HTTPS with this certificate (signed by the lab's private CA); plain HTTP without. */
  tls?: ServingCert;
}

/** Every implemented operation by its swagger operationId; any other matched operation answers 501. */
const HANDLERS: Record<string, Handler> = {
  ...systemHandlers,
  ...registryHandlers,
  ...projectHandlers,
  ...repositoryHandlers,
  ...robotHandlers,
};

export class HarborDouble {
  readonly config: HarborDoubleConfig;
  readonly #state: HarborState;
  readonly #validator: SwaggerValidator;
  readonly #tokens = new TokenService();
  readonly #agent = new Agent({ keepAlive: true, maxSockets: 64 });
  readonly #backends: Backends;
  // What the routes get of the double, built once.
  readonly #parts: HarborParts;
  readonly #tokenContext: TokenContext;
  readonly #registryContext: RegistryContext;
  #server: Server | undefined;

  constructor(config: HarborDoubleConfig) {
    this.config = config;
    this.#state = new HarborState(join(config.stateDir, 'state.json'));
    this.#validator = new SwaggerValidator(config.swaggerPath);
    this.#backends = new Backends(this.#state, config);
    const shared = { state: this.#state, backends: this.#backends, externalUrl: this.externalUrl };
    this.#parts = { ...shared, port: config.port };
    this.#tokenContext = { state: this.#state, tokens: this.#tokens, admin: config.admin };
    this.#registryContext = { ...shared, tokens: this.#tokens, agent: this.#agent };
  }

  get externalUrl(): string {
    return `${this.config.tls ? 'https' : 'http'}://${this.config.address}:${this.config.port}`;
  }

  async start(): Promise<void> {
    await startRegistry(this.#backends.store);
    for (const project of this.#state.projects)
      if (project.registry_id !== null) await this.#backends.ensureProxy(project);
    const handle = (req: IncomingMessage, res: ServerResponse) => {
      this.#handle(req, res).catch((error: unknown) => {
        if (!res.headersSent)
          sendJson(res, 500, errors('INTERNAL_SERVER_ERROR', error instanceof Error ? error.message : String(error)));
        else res.destroy();
      });
    };
    this.#server = peerServer(handle, this.config.tls);
    await new Promise<void>((resolve, reject) => {
      this.#server?.once('error', reject);
      this.#server?.listen(this.config.port, this.config.address, resolve);
    });
  }

  /** Stops the API and every registry it started. */
  async stop(): Promise<void> {
    await new Promise<void>((resolve) => (this.#server ? this.#server.close(() => resolve()) : resolve()));
    this.#agent.destroy();
    for (const project of this.#state.projects)
      if (project.registry_id !== null) await stopRegistry(this.#backends.proxyInstance(project));
    await stopRegistry(this.#backends.store);
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', this.externalUrl);
    if (url.pathname.startsWith('/api/v2.0/')) return await this.#api(req, res, url);
    if (url.pathname === '/service/token') return serveToken(this.#tokenContext, req, res, url);
    if (url.pathname === '/v2' || url.pathname.startsWith('/v2/'))
      return await serveRegistry(this.#registryContext, req, res, url);
    sendJson(res, 404, errors('NOT_FOUND', `${url.pathname} is not served by Harbor`));
  }

  async #api(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    const path = url.pathname.slice('/api/v2.0'.length);
    const op = this.#validator.match(req.method ?? 'GET', path);
    if (!op) return sendJson(res, 404, errors('NOT_FOUND', `no Harbor API operation ${req.method} ${url.pathname}`));
    const handler = HANDLERS[op.operationId];
    if (!handler)
      return sendJson(
        res,
        501,
        errors('NOT_IMPLEMENTED', `the lab's Harbor double does not implement ${op.operationId}`),
      );
    let result: ApiResult;
    try {
      const raw = await readBody(req);
      let body: unknown;
      if (raw.length) {
        try {
          body = JSON.parse(raw.toString('utf8'));
        } catch {
          throw new ApiError(400, 'BAD_REQUEST', 'request body is not valid JSON');
        }
      }
      this.#validator.validateRequest(op, url.searchParams, req.headers, body);
      const admin = isAdmin(req, this.config.admin);
      if (req.headers.authorization && !admin) throw new ApiError(401, 'UNAUTHORIZED', 'invalid credentials');
      result = await handler({ op, query: url.searchParams, body, admin, req, ...this.#parts });
    } catch (error) {
      if (error instanceof SwaggerValidationError) result = { status: 400, body: errors('BAD_REQUEST', error.message) };
      else if (error instanceof ApiError) result = { status: error.status, body: errors(error.code, error.message) };
      else throw error;
    }
    // The double checks its own answers too: a response outside the spec is a bug in the double.
    this.#validator.validateResponse(op, result.status, result.body);
    const headers = { 'x-request-id': String(req.headers['x-request-id'] ?? cryptoId()), ...result.headers };
    if (typeof result.body === 'string') {
      res.writeHead(result.status, { ...headers, 'content-type': 'text/plain' }).end(result.body);
    } else if (result.body === undefined) {
      res.writeHead(result.status, headers).end();
    } else {
      sendJson(res, result.status, result.body, headers);
    }
  }
}
