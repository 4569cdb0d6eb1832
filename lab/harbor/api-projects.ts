// Harbor API: projects (`/projects`). A project with a `registry_id` is a proxy cache and gets its
// own pull-through docker-registry; every other project lives in the shared store.
import type { IncomingMessage } from 'node:http';
import { rmSync } from 'node:fs';
import { stopRegistry } from '../registry.ts';
import type { MatchedOperation } from '../swagger-validator.ts';
import { PROXY_CAPABLE } from './api-registries.ts';
import type { Backends } from './backends.ts';
import { ApiError, paged, queryFuzzy, queryTerm, requireAdmin, type Handler } from './http.ts';
import { isPublic, type HarborState, type ProjectRecord } from './state.ts';

const PROJECT_NAME = /^[a-z0-9]+(?:[._-][a-z0-9]+)*$/;

// The request body as the vendored swagger defines it (ProjectReq), the fields the double reads.
interface ProjectReq {
  project_name?: string;
  public?: boolean | null;
  metadata?: Record<string, unknown>;
  registry_id?: number | null;
}

export const projectHandlers: Record<string, Handler> = {
  listProjects: ({ admin, query, state, backends }) => {
    const name = query.get('name') ?? queryTerm(query.get('q'), 'name');
    const fuzzy = queryFuzzy(query.get('q'), 'name');
    const publicOnly = query.get('public');
    const all = state.projects.filter(
      (p) =>
        (admin || isPublic(p)) &&
        (name === undefined || p.name === name) &&
        (fuzzy === undefined || p.name.includes(fuzzy)) &&
        (publicOnly === null || String(isPublic(p)) === publicOnly),
    );
    return paged(
      all.map((p) => projectView(backends, p)),
      query,
    );
  },
  headProject: ({ query, state }) => {
    if (!state.project(query.get('project_name') ?? '', true))
      throw new ApiError(404, 'NOT_FOUND', 'project not found');
    return { status: 200 };
  },
  createProject: async ({ admin, body: input, req, state, backends }) => {
    requireAdmin(admin);
    const body = input as ProjectReq;
    const name = String(body.project_name ?? '');
    if (!PROJECT_NAME.test(name))
      throw new ApiError(
        400,
        'BAD_REQUEST',
        `project name "${name}" is invalid: lower-case letters, digits and ._- only`,
      );
    if (state.project(name, true)) throw new ApiError(409, 'CONFLICT', `The project named ${name} already exists`);
    const registryId = body.registry_id ?? null;
    if (registryId !== null) {
      const registry = state.registry(registryId);
      if (!registry) throw new ApiError(400, 'BAD_REQUEST', `registry ${registryId} not found`);
      if (!PROXY_CAPABLE.has(registry.type))
        throw new ApiError(400, 'BAD_REQUEST', `the registry type ${registry.type} does not support proxy cache`);
    }
    const metadata: Record<string, string> = {};
    for (const [k, v] of Object.entries(body.metadata ?? {})) if (typeof v === 'string') metadata[k] = v;
    const pub = body.public ?? metadata.public === 'true';
    metadata.public = String(pub);
    const project = state.addProject({ name, registry_id: registryId, metadata });
    if (registryId !== null) await backends.ensureProxy(project);
    const byName = req.headers['x-resource-name-in-location'] === 'true';
    return { status: 201, headers: { location: `/api/v2.0/projects/${byName ? name : project.project_id}` } };
  },
  getProject: ({ admin, op, req, state, backends }) => {
    const project = projectOr404(state, op, req);
    if (!admin && !isPublic(project)) throw new ApiError(401, 'UNAUTHORIZED', 'unauthorized');
    return { status: 200, body: projectView(backends, project) };
  },
  deleteProject: async ({ admin, op, req, state, backends }) => {
    requireAdmin(admin);
    const project = projectOr404(state, op, req);
    if (backends.repositories(project).length)
      throw new ApiError(412, 'PRECONDITION', `project ${project.name} still contains repositories`);
    if (project.registry_id !== null) {
      await stopRegistry(backends.proxyInstance(project));
      rmSync(backends.proxyInstance(project).dir, { recursive: true, force: true });
    }
    state.removeProject(project.project_id);
    return { status: 200 };
  },
};

function projectOr404(state: HarborState, op: MatchedOperation, req: IncomingMessage): ProjectRecord {
  const key = op.pathParams.project_name_or_id ?? '';
  const project = state.project(key, req.headers['x-is-resource-name'] === 'true');
  if (!project) throw new ApiError(404, 'NOT_FOUND', `project ${key} not found`);
  return project;
}

function projectView(backends: Backends, p: ProjectRecord): unknown {
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
    repo_count: backends.repositories(p).length,
    metadata: p.metadata,
  };
}
