// The lab's Harbor v2.0 API double. It is a double of Harbor's *API* only: every byte of image
// content lives in real `docker-registry` instances — one store for push projects and one
// pull-through cache per proxy-cache project. Every API request and response is validated
// against specs/harbor/swagger.yaml (vendored); a request the spec forbids gets 400.
import {
  request as httpRequest,
  createServer,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http';
import { Agent } from 'node:http';
import { existsSync, readdirSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { registryUrl, startRegistry, stopRegistry, type RegistryInstance } from '../registry.ts';
import { freePort } from '../processes.ts';
import { MANIFEST_ACCEPT } from '../../src/adapters/oci/media-types.ts';
import { SwaggerValidationError, SwaggerValidator, type MatchedOperation } from '../swagger-validator.ts';
import { HarborState, type ProjectRecord, type RegistryRecord } from './state.ts';
import { parseScopes, TokenService, type Grant } from './token.ts';

export interface HarborDoubleConfig {
  name: string;
  port: number;
  stateDir: string;
  storePort: number;
  admin: { username: string; password: string };
  swaggerPath: string;
}

/** Adapter types Harbor can use as a proxy-cache endpoint (src/pkg/reg/adapter). */
const PROXY_CAPABLE = new Set([
  'docker-hub',
  'docker-registry',
  'harbor',
  'github-ghcr',
  'quay',
  'google-gcr',
  'aws-ecr',
  'azure-acr',
  'jfrog-artifactory',
]);
const KNOWN_TYPES = new Set([
  ...PROXY_CAPABLE,
  'gitlab',
  'helm-hub',
  'ali-acr',
  'huawei-SWR',
  'tencent-tcr',
  'volcengine-cr',
  'dtr',
]);
const PROJECT_NAME = /^[a-z0-9]+(?:[._-][a-z0-9]+)*$/;
const SERVICE = 'harbor-registry';
const VERSION = 'v2.11.0-lab-double';

type Handler = (ctx: ApiContext) => Promise<ApiResult> | ApiResult;

interface ApiContext {
  op: MatchedOperation;
  query: URLSearchParams;
  /** Checked against the operation's body schema before any handler runs; each handler reads it as its spec type. */
  body: unknown;
  admin: boolean;
  req: IncomingMessage;
}

// Request bodies as the vendored swagger defines them (Registry, RegistryUpdate, RegistryPing, ProjectReq),
// the fields the double reads.
interface RegistryReq {
  name?: string;
  url?: string;
  type?: string;
  description?: string;
  insecure?: boolean;
  credential?: { type?: string; access_key?: string; access_secret?: string };
}

interface RegistryUpdateReq {
  name?: string | null;
  description?: string | null;
  url?: string | null;
  credential_type?: string | null;
  access_key?: string | null;
  access_secret?: string | null;
  insecure?: boolean | null;
}

interface RegistryPingReq {
  id?: number | null;
  url?: string | null;
}

interface ProjectReq {
  project_name?: string;
  public?: boolean | null;
  metadata?: Record<string, unknown>;
  registry_id?: number | null;
}

/** Harbor's Artifact, the fields the double fills. */
interface Artifact {
  id: number;
  type: string;
  media_type: string;
  manifest_media_type: string;
  project_id: number;
  repository_id: number;
  repository_name: string;
  digest: string;
  size: number;
  push_time: string;
  pull_time: string;
  tags: Array<{
    id: number;
    repository_id: number;
    artifact_id: number;
    name: string;
    push_time: string;
    pull_time: string;
    immutable: boolean;
  }>;
  references: Array<{
    parent_id: number;
    child_id: number;
    child_digest: string;
    platform?: { architecture: string; os: string };
  }>;
  annotations?: Record<string, string>;
}

interface ApiResult {
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
}

class ApiError extends Error {
  readonly status: number;
  readonly code: string;
  constructor(status: number, code: string, message: string) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

export class HarborDouble {
  readonly config: HarborDoubleConfig;
  readonly #state: HarborState;
  readonly #validator: SwaggerValidator;
  readonly #tokens = new TokenService();
  readonly #agent = new Agent({ keepAlive: true, maxSockets: 64 });
  readonly #store: RegistryInstance;
  #server: Server | undefined;

  constructor(config: HarborDoubleConfig) {
    this.config = config;
    this.#state = new HarborState(join(config.stateDir, 'state.json'));
    this.#validator = new SwaggerValidator(config.swaggerPath);
    this.#store = { name: `${config.name}-store`, port: config.storePort, dir: join(config.stateDir, 'store') };
  }

  get externalUrl(): string {
    return `http://127.0.0.1:${this.config.port}`;
  }

  async start(): Promise<void> {
    await startRegistry(this.#store);
    for (const project of this.#state.projects) if (project.registry_id !== null) await this.#ensureProxy(project);
    this.#server = createServer((req, res) => {
      this.#handle(req, res).catch((error: unknown) => {
        if (!res.headersSent)
          sendJson(res, 500, errors('INTERNAL_SERVER_ERROR', error instanceof Error ? error.message : String(error)));
        else res.destroy();
      });
    });
    await new Promise<void>((resolve, reject) => {
      this.#server?.once('error', reject);
      this.#server?.listen(this.config.port, '127.0.0.1', resolve);
    });
  }

  /** Stops the API and every registry it started. */
  async stop(): Promise<void> {
    await new Promise<void>((resolve) => (this.#server ? this.#server.close(() => resolve()) : resolve()));
    this.#agent.destroy();
    for (const project of this.#state.projects)
      if (project.registry_id !== null) await stopRegistry(this.#proxyInstance(project));
    await stopRegistry(this.#store);
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', this.externalUrl);
    if (url.pathname.startsWith('/api/v2.0/')) return await this.#api(req, res, url);
    if (url.pathname === '/service/token') return this.#token(req, res, url);
    if (url.pathname === '/v2' || url.pathname.startsWith('/v2/')) return await this.#registry(req, res, url);
    sendJson(res, 404, errors('NOT_FOUND', `${url.pathname} is not served by Harbor`));
  }

  // ---------------------------------------------------------------- API

  async #api(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    const path = url.pathname.slice('/api/v2.0'.length);
    const op = this.#validator.match(req.method ?? 'GET', path);
    if (!op) return sendJson(res, 404, errors('NOT_FOUND', `no Harbor API operation ${req.method} ${url.pathname}`));
    const handler = this.#handlers[op.operationId];
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
      const admin = this.#isAdmin(req);
      if (req.headers.authorization && !admin) throw new ApiError(401, 'UNAUTHORIZED', 'invalid credentials');
      result = await handler({ op, query: url.searchParams, body, admin, req });
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

  #isAdmin(req: IncomingMessage): boolean {
    const header = req.headers.authorization ?? '';
    if (!header.startsWith('Basic ')) return false;
    const [user, ...rest] = Buffer.from(header.slice(6), 'base64').toString().split(':');
    return user === this.config.admin.username && rest.join(':') === this.config.admin.password;
  }

  readonly #handlers: Record<string, Handler> = {
    getPing: () => ({ status: 200, body: 'Pong' }),
    getHealth: async () => {
      const store = await fetch(`${registryUrl(this.#store)}/v2/`).then(
        (r) => r.ok,
        () => false,
      );
      return {
        status: 200,
        body: {
          status: store ? 'healthy' : 'unhealthy',
          components: [
            { name: 'core', status: 'healthy' },
            {
              name: 'registry',
              status: store ? 'healthy' : 'unhealthy',
              ...(store ? {} : { error: 'registry store unreachable' }),
            },
          ],
        },
      };
    },
    getSystemInfo: ({ admin }) => ({
      status: 200,
      body: {
        harbor_version: VERSION,
        external_url: this.externalUrl,
        registry_url: `127.0.0.1:${this.config.port}`,
        auth_mode: 'db_auth',
        current_time: new Date().toISOString(),
        ...(admin ? { registry_storage_provider_name: 'filesystem', self_registration: false, read_only: false } : {}),
      },
    }),

    listRegistries: ({ admin, query }) => {
      requireAdmin(admin);
      const exact = query.get('name') ?? queryTerm(query.get('q'), 'name');
      const fuzzy = queryFuzzy(query.get('q'), 'name');
      const all = this.#state.registries.filter(
        (r) => (exact === undefined || r.name === exact) && (fuzzy === undefined || r.name.includes(fuzzy)),
      );
      return paged(all.map(registryView), query);
    },
    createRegistry: ({ admin, body: input }) => {
      requireAdmin(admin);
      const body = input as RegistryReq;
      const name = String(body.name ?? '');
      if (!name) throw new ApiError(400, 'BAD_REQUEST', 'name is required');
      if (!body.url) throw new ApiError(400, 'BAD_REQUEST', 'url is required');
      if (body.type === undefined || !KNOWN_TYPES.has(body.type))
        throw new ApiError(400, 'BAD_REQUEST', `adapter factory for ${body.type} not found`);
      if (this.#state.registries.some((r) => r.name === name))
        throw new ApiError(409, 'CONFLICT', `registry ${name} already exists`);
      const record = this.#state.addRegistry({
        name,
        type: body.type,
        url: String(body.url).replace(/\/+$/, ''),
        description: body.description ?? '',
        insecure: body.insecure ?? false,
        ...(body.credential?.access_key
          ? {
              credential: {
                type: body.credential.type ?? 'basic',
                access_key: body.credential.access_key,
                access_secret: body.credential.access_secret ?? '',
              },
            }
          : {}),
      });
      return { status: 201, headers: { location: `/api/v2.0/registries/${record.id}` } };
    },
    getRegistry: ({ admin, op }) => {
      requireAdmin(admin);
      return { status: 200, body: registryView(this.#registryOr404(op)) };
    },
    updateRegistry: ({ admin, op, body: input }) => {
      requireAdmin(admin);
      const body = input as RegistryUpdateReq;
      const record = this.#registryOr404(op);
      if (body.name && body.name !== record.name && this.#state.registries.some((r) => r.name === body.name)) {
        throw new ApiError(409, 'CONFLICT', `registry ${body.name} already exists`);
      }
      if (body.name) record.name = body.name;
      if (body.url) record.url = String(body.url).replace(/\/+$/, '');
      if (body.description !== undefined && body.description !== null) record.description = body.description;
      if (body.insecure !== undefined && body.insecure !== null) record.insecure = body.insecure;
      if (body.access_key)
        record.credential = {
          type: body.credential_type ?? 'basic',
          access_key: body.access_key,
          access_secret: body.access_secret ?? '',
        };
      record.update_time = new Date().toISOString();
      this.#state.save();
      return { status: 200 };
    },
    deleteRegistry: ({ admin, op }) => {
      requireAdmin(admin);
      const record = this.#registryOr404(op);
      if (this.#state.projects.some((p) => p.registry_id === record.id)) {
        throw new ApiError(412, 'PRECONDITION', `registry ${record.id} is used by a proxy-cache project`);
      }
      this.#state.removeRegistry(record.id);
      return { status: 200 };
    },
    pingRegistry: async ({ admin, body: input }) => {
      requireAdmin(admin);
      const body = input as RegistryPingReq;
      const target = body.id ? this.#state.registry(Number(body.id))?.url : body.url;
      if (!target) throw new ApiError(404, 'NOT_FOUND', `registry ${body.id} not found`);
      const ok = await fetch(`${target}/v2/`, { signal: AbortSignal.timeout(5000) }).then(
        (r) => r.status === 200 || r.status === 401,
        () => false,
      );
      if (!ok) throw new ApiError(400, 'BAD_REQUEST', `failed to ping endpoint ${target}`);
      return { status: 200 };
    },

    listProjects: ({ admin, query }) => {
      const name = query.get('name') ?? queryTerm(query.get('q'), 'name');
      const fuzzy = queryFuzzy(query.get('q'), 'name');
      const publicOnly = query.get('public');
      const all = this.#state.projects.filter(
        (p) =>
          (admin || isPublic(p)) &&
          (name === undefined || p.name === name) &&
          (fuzzy === undefined || p.name.includes(fuzzy)) &&
          (publicOnly === null || String(isPublic(p)) === publicOnly),
      );
      return paged(
        all.map((p) => this.#projectView(p)),
        query,
      );
    },
    headProject: ({ query }) => {
      if (!this.#state.project(query.get('project_name') ?? '', true))
        throw new ApiError(404, 'NOT_FOUND', 'project not found');
      return { status: 200 };
    },
    createProject: async ({ admin, body: input, req }) => {
      requireAdmin(admin);
      const body = input as ProjectReq;
      const name = String(body.project_name ?? '');
      if (!PROJECT_NAME.test(name))
        throw new ApiError(
          400,
          'BAD_REQUEST',
          `project name "${name}" is invalid: lower-case letters, digits and ._- only`,
        );
      if (this.#state.project(name, true))
        throw new ApiError(409, 'CONFLICT', `The project named ${name} already exists`);
      const registryId = body.registry_id ?? null;
      if (registryId !== null) {
        const registry = this.#state.registry(registryId);
        if (!registry) throw new ApiError(400, 'BAD_REQUEST', `registry ${registryId} not found`);
        if (!PROXY_CAPABLE.has(registry.type))
          throw new ApiError(400, 'BAD_REQUEST', `the registry type ${registry.type} does not support proxy cache`);
      }
      const metadata: Record<string, string> = {};
      for (const [k, v] of Object.entries(body.metadata ?? {})) if (typeof v === 'string') metadata[k] = v;
      const pub = body.public ?? metadata.public === 'true';
      metadata.public = String(pub);
      const project = this.#state.addProject({ name, registry_id: registryId, metadata });
      if (registryId !== null) await this.#ensureProxy(project);
      const byName = req.headers['x-resource-name-in-location'] === 'true';
      return { status: 201, headers: { location: `/api/v2.0/projects/${byName ? name : project.project_id}` } };
    },
    getProject: ({ admin, op, req }) => {
      const project = this.#projectOr404(op, req);
      if (!admin && !isPublic(project)) throw new ApiError(401, 'UNAUTHORIZED', 'unauthorized');
      return { status: 200, body: this.#projectView(project) };
    },
    deleteProject: async ({ admin, op, req }) => {
      requireAdmin(admin);
      const project = this.#projectOr404(op, req);
      if (this.#repositories(project).length)
        throw new ApiError(412, 'PRECONDITION', `project ${project.name} still contains repositories`);
      if (project.registry_id !== null) {
        await stopRegistry(this.#proxyInstance(project));
        rmSync(this.#proxyInstance(project).dir, { recursive: true, force: true });
      }
      this.#state.removeProject(project.project_id);
      return { status: 200 };
    },

    listRepositories: ({ admin, op, query }) => {
      const project = this.#readableProject(op.pathParams.project_name ?? '', admin);
      return paged(
        this.#repositories(project).map((name) => this.#repositoryView(project, name)),
        query,
      );
    },
    getRepository: ({ admin, op }) => {
      const project = this.#readableProject(op.pathParams.project_name ?? '', admin);
      const name = decodeURIComponent(op.pathParams.repository_name ?? '');
      if (!this.#repositories(project).includes(name))
        throw new ApiError(404, 'NOT_FOUND', `repository ${project.name}/${name} not found`);
      return { status: 200, body: this.#repositoryView(project, name) };
    },
    deleteRepository: ({ admin, op }) => {
      requireAdmin(admin);
      const project = this.#readableProject(op.pathParams.project_name ?? '', admin);
      const name = decodeURIComponent(op.pathParams.repository_name ?? '');
      const dir = this.#repositoryDir(project, name);
      if (!existsSync(dir)) throw new ApiError(404, 'NOT_FOUND', `repository ${project.name}/${name} not found`);
      rmSync(dir, { recursive: true, force: true });
      return { status: 200 };
    },
    listArtifacts: async ({ admin, op, query }) => {
      const project = this.#readableProject(op.pathParams.project_name ?? '', admin);
      const name = decodeURIComponent(op.pathParams.repository_name ?? '');
      const tags = await this.#backendJson<{ tags: string[] | null }>(
        project,
        `/v2/${this.#backendRepo(project, name)}/tags/list`,
      );
      const artifacts = new Map<string, Artifact>();
      for (const tag of tags?.tags ?? []) {
        const artifact = await this.#artifact(project, name, tag);
        if (!artifact) continue;
        const seen = artifacts.get(artifact.digest);
        if (seen) seen.tags.push(...artifact.tags);
        else artifacts.set(artifact.digest, artifact);
      }
      return paged([...artifacts.values()], query);
    },
    getArtifact: async ({ admin, op }) => {
      const project = this.#readableProject(op.pathParams.project_name ?? '', admin);
      const name = decodeURIComponent(op.pathParams.repository_name ?? '');
      const artifact = await this.#artifact(project, name, op.pathParams.reference ?? '');
      if (!artifact)
        throw new ApiError(404, 'NOT_FOUND', `artifact ${project.name}/${name}@${op.pathParams.reference} not found`);
      return { status: 200, body: artifact };
    },
  };

  #registryOr404(op: MatchedOperation): RegistryRecord {
    const record = this.#state.registry(Number(op.pathParams.id));
    if (!record) throw new ApiError(404, 'NOT_FOUND', `registry ${op.pathParams.id} not found`);
    return record;
  }

  #projectOr404(op: MatchedOperation, req: IncomingMessage): ProjectRecord {
    const key = op.pathParams.project_name_or_id ?? '';
    const project = this.#state.project(key, req.headers['x-is-resource-name'] === 'true');
    if (!project) throw new ApiError(404, 'NOT_FOUND', `project ${key} not found`);
    return project;
  }

  #readableProject(name: string, admin: boolean): ProjectRecord {
    const project = this.#state.project(name, true);
    if (!project) throw new ApiError(404, 'NOT_FOUND', `project ${name} not found`);
    if (!admin && !isPublic(project)) throw new ApiError(401, 'UNAUTHORIZED', 'unauthorized');
    return project;
  }

  #projectView(p: ProjectRecord): unknown {
    return {
      project_id: p.project_id,
      name: p.name,
      owner_id: 1,
      owner_name: 'admin',
      registry_id: p.registry_id ?? 0,
      creation_time: p.creation_time,
      update_time: p.update_time,
      deleted: false,
      togglable: true,
      repo_count: this.#repositories(p).length,
      metadata: p.metadata,
    };
  }

  #repositoryView(project: ProjectRecord, name: string): unknown {
    const dir = this.#repositoryDir(project, name);
    const manifests = join(dir, '_manifests', 'revisions', 'sha256');
    const time = existsSync(dir) ? statSync(dir).mtime.toISOString() : project.creation_time;
    return {
      id: hashId(`${project.name}/${name}`),
      project_id: project.project_id,
      name: `${project.name}/${name}`,
      artifact_count: existsSync(manifests) ? readdirSync(manifests).length : 0,
      pull_count: 0,
      creation_time: time,
      update_time: time,
    };
  }

  async #artifact(project: ProjectRecord, name: string, reference: string): Promise<Artifact | undefined> {
    const res = await fetch(
      `${this.#backendUrl(project)}/v2/${this.#backendRepo(project, name)}/manifests/${reference}`,
      {
        headers: { accept: MANIFEST_ACCEPT },
      },
    ).catch(() => undefined);
    if (!res || res.status !== 200) {
      await res?.body?.cancel();
      return undefined;
    }
    const manifest = (await res.json()) as {
      mediaType?: string;
      config?: { mediaType: string };
      manifests?: Array<{ digest: string; platform?: { architecture: string; os: string } }>;
      layers?: Array<{ size: number }>;
      annotations?: Record<string, string>;
    };
    const mediaType = (res.headers.get('content-type') ?? '').split(';')[0] ?? '';
    const digest = res.headers.get('docker-content-digest') ?? '';
    const isChart = manifest.config?.mediaType === 'application/vnd.cncf.helm.config.v1+json';
    const now = new Date().toISOString();
    return {
      id: hashId(`${project.name}/${name}@${digest}`),
      type: manifest.manifests ? 'IMAGE' : isChart ? 'CHART' : 'IMAGE',
      media_type: manifest.config?.mediaType ?? mediaType,
      manifest_media_type: mediaType,
      project_id: project.project_id,
      repository_id: hashId(`${project.name}/${name}`),
      repository_name: `${project.name}/${name}`,
      digest,
      size: Number(res.headers.get('content-length') ?? 0) + (manifest.layers ?? []).reduce((s, l) => s + l.size, 0),
      push_time: now,
      pull_time: now,
      tags: reference.startsWith('sha256:')
        ? []
        : [
            {
              id: hashId(`${name}:${reference}`),
              repository_id: hashId(`${project.name}/${name}`),
              artifact_id: hashId(digest),
              name: reference,
              push_time: now,
              pull_time: now,
              immutable: false,
            },
          ],
      references: (manifest.manifests ?? []).map((m) => ({
        parent_id: hashId(digest),
        child_id: hashId(m.digest),
        child_digest: m.digest,
        ...(m.platform ? { platform: { architecture: m.platform.architecture, os: m.platform.os } } : {}),
      })),
      ...(manifest.annotations ? { annotations: manifest.annotations } : {}),
    };
  }

  async #backendJson<T>(project: ProjectRecord, path: string): Promise<T | undefined> {
    const res = await fetch(`${this.#backendUrl(project)}${path}`).catch(() => undefined);
    if (!res || res.status !== 200) return undefined;
    return (await res.json()) as T;
  }

  // ---------------------------------------------------------------- storage layout

  #proxyInstance(project: ProjectRecord): RegistryInstance {
    const registry = project.registry_id === null ? undefined : this.#state.registry(project.registry_id);
    return {
      name: `${this.config.name}-proxy-${project.name}`,
      port: project.proxyPort ?? 0,
      dir: join(this.config.stateDir, 'proxy', project.name),
      ...(registry
        ? {
            proxy: {
              remoteUrl: registry.url,
              ...(registry.credential
                ? { username: registry.credential.access_key, password: registry.credential.access_secret }
                : {}),
            },
          }
        : {}),
    };
  }

  async #ensureProxy(project: ProjectRecord): Promise<void> {
    if (!project.proxyPort) {
      project.proxyPort = await freePort();
      this.#state.save();
    }
    await startRegistry(this.#proxyInstance(project));
  }

  #backendUrl(project: ProjectRecord): string {
    return registryUrl(project.registry_id === null ? this.#store : this.#proxyInstance(project));
  }

  /** Push projects keep `<project>/<repo>` in the store; a proxy cache holds the upstream path. */
  #backendRepo(project: ProjectRecord, name: string): string {
    return project.registry_id === null ? `${project.name}/${name}` : name;
  }

  #repositoryDir(project: ProjectRecord, name: string): string {
    const root = project.registry_id === null ? this.#store.dir : this.#proxyInstance(project).dir;
    return join(root, 'storage', 'docker', 'registry', 'v2', 'repositories', this.#backendRepo(project, name));
  }

  /** Repository names (without the project) that hold at least one manifest revision. */
  #repositories(project: ProjectRecord): string[] {
    const root = join(
      project.registry_id === null ? this.#store.dir : this.#proxyInstance(project).dir,
      'storage',
      'docker',
      'registry',
      'v2',
      'repositories',
      ...(project.registry_id === null ? [project.name] : []),
    );
    const found: string[] = [];
    const walk = (dir: string, prefix: string): void => {
      if (!existsSync(dir)) return;
      for (const entry of readdirSync(dir, { withFileTypes: true })) {
        if (!entry.isDirectory() || entry.name.startsWith('_')) continue;
        const name = prefix ? `${prefix}/${entry.name}` : entry.name;
        if (existsSync(join(dir, entry.name, '_manifests'))) found.push(name);
        walk(join(dir, entry.name), name);
      }
    };
    walk(root, '');
    return found.sort();
  }

  // ---------------------------------------------------------------- token service and /v2

  #token(req: IncomingMessage, res: ServerResponse, url: URL): void {
    const header = req.headers.authorization ?? '';
    let subject = 'anonymous';
    if (header) {
      if (!this.#isAdmin(req)) return sendJson(res, 401, errors('UNAUTHORIZED', 'invalid credentials'));
      subject = this.config.admin.username;
    }
    const granted: Grant[] = [];
    for (const wanted of parseScopes(url.searchParams.getAll('scope'))) {
      if (!wanted.resource.startsWith('repository:')) continue;
      const project = this.#state.project(wanted.resource.slice('repository:'.length).split('/')[0] ?? '', true);
      if (!project) continue;
      const actions = wanted.actions.filter((a) =>
        a === 'pull' ? subject !== 'anonymous' || isPublic(project) : subject !== 'anonymous',
      );
      if (actions.length) granted.push({ resource: wanted.resource, actions });
    }
    const token = this.#tokens.issue(subject, granted, 1800);
    sendJson(res, 200, { token, access_token: token, expires_in: 1800, issued_at: new Date().toISOString() });
  }

  async #registry(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    const method = req.method ?? 'GET';
    const bearer = /^Bearer (.+)$/i.exec(req.headers.authorization ?? '')?.[1];
    const claims = bearer ? this.#tokens.verify(bearer) : undefined;
    if (url.pathname === '/v2' || url.pathname === '/v2/') {
      if (!claims) return this.#challenge(res, undefined);
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
    if (!allowed) return this.#challenge(res, `repository:${name}:${action === 'push' ? 'pull,push' : 'pull'}`);
    const [projectName, ...repoParts] = name.split('/');
    const project = this.#state.project(projectName ?? '', true);
    if (!project || repoParts.length === 0)
      return sendJson(res, 404, registryErrors('NAME_UNKNOWN', `repository ${name} not known to registry`));
    if (project.registry_id !== null && action === 'push') {
      return sendJson(res, 403, registryErrors('DENIED', `can not push artifact to a proxy project: ${project.name}`));
    }
    const backendPath = `/v2/${this.#backendRepo(project, repoParts.join('/'))}/${rest}${url.search}`;
    this.#forward(req, res, this.#backendUrl(project), backendPath);
  }

  #challenge(res: ServerResponse, scope: string | undefined): void {
    const realm = `${this.externalUrl}/service/token`;
    res.setHeader(
      'www-authenticate',
      `Bearer realm="${realm}",service="${SERVICE}"${scope ? `,scope="${scope}"` : ''}`,
    );
    sendJson(res, 401, registryErrors('UNAUTHORIZED', 'unauthorized to access repository'));
  }

  /** Streams the request to a backing registry and the answer back, bodies never buffered. */
  #forward(req: IncomingMessage, res: ServerResponse, backend: string, path: string): void {
    const target = new URL(backend);
    const headers = { ...req.headers };
    delete headers.authorization;
    // Keep the client's Host so upload Locations the store builds point back at this double.
    const upstream = httpRequest(
      { host: target.hostname, port: target.port, method: req.method, path, headers, agent: this.#agent },
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
}

function requireAdmin(admin: boolean): void {
  if (!admin) throw new ApiError(401, 'UNAUTHORIZED', 'authentication required');
}

function isPublic(p: ProjectRecord): boolean {
  return p.metadata.public === 'true';
}

function registryView(r: RegistryRecord): unknown {
  return {
    id: r.id,
    name: r.name,
    type: r.type,
    url: r.url,
    description: r.description,
    insecure: r.insecure,
    status: 'healthy',
    creation_time: r.creation_time,
    update_time: r.update_time,
    // Harbor never returns the secret.
    credential: r.credential
      ? { type: r.credential.type, access_key: r.credential.access_key, access_secret: '*****' }
      : { type: 'basic', access_key: '', access_secret: '' },
  };
}

/** `q=name=foo` → "foo" (exact match); undefined when the key is absent or fuzzy. */
function queryTerm(q: string | null, key: string): string | undefined {
  for (const part of (q ?? '').split(',')) {
    const [k, v] = part.split('=', 2);
    if (k === key && v !== undefined && !v.startsWith('~')) return v;
  }
  return undefined;
}

function queryFuzzy(q: string | null, key: string): string | undefined {
  for (const part of (q ?? '').split(',')) {
    const [k, v] = part.split('=', 2);
    if (k === key && v?.startsWith('~')) return v.slice(1);
  }
  return undefined;
}

function paged(items: unknown[], query: URLSearchParams): ApiResult {
  const page = Number(query.get('page') ?? 1);
  const size = Number(query.get('page_size') ?? 10);
  return {
    status: 200,
    body: items.slice((page - 1) * size, page * size),
    headers: { 'x-total-count': String(items.length) },
  };
}

function errors(code: string, message: string): { errors: Array<{ code: string; message: string }> } {
  return { errors: [{ code, message }] };
}

/** The distribution spec's error body (same shape, registry codes). */
function registryErrors(code: string, message: string): unknown {
  return { errors: [{ code, message, detail: null }] };
}

function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res
    .writeHead(status, { ...headers, 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) })
    .end(text);
}

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

function hashId(text: string): number {
  let h = 0;
  for (const ch of text) h = (Math.imul(h, 31) + ch.charCodeAt(0)) | 0;
  return Math.abs(h);
}

function cryptoId(): string {
  return Math.random().toString(16).slice(2);
}
