// Harbor API: registry endpoints (`/registries`), the upstreams a proxy-cache project pulls through.
import type { MatchedOperation } from '../swagger-validator.ts';
import { ApiError, paged, queryFuzzy, queryTerm, requireAdmin, type Handler } from './http.ts';
import type { HarborState, RegistryRecord } from './state.ts';

/** Adapter types Harbor can use as a proxy-cache endpoint (src/pkg/reg/adapter). */
export const PROXY_CAPABLE = new Set([
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

// Request bodies as the vendored swagger defines them (Registry, RegistryUpdate, RegistryPing),
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

export const registryHandlers: Record<string, Handler> = {
  listRegistries: ({ admin, query, state }) => {
    requireAdmin(admin);
    const exact = query.get('name') ?? queryTerm(query.get('q'), 'name');
    const fuzzy = queryFuzzy(query.get('q'), 'name');
    const all = state.registries.filter(
      (r) => (exact === undefined || r.name === exact) && (fuzzy === undefined || r.name.includes(fuzzy)),
    );
    return paged(all.map(registryView), query);
  },
  createRegistry: ({ admin, body: input, state }) => {
    requireAdmin(admin);
    const body = input as RegistryReq;
    const name = String(body.name ?? '');
    if (!name) throw new ApiError(400, 'BAD_REQUEST', 'name is required');
    if (!body.url) throw new ApiError(400, 'BAD_REQUEST', 'url is required');
    if (body.type === undefined || !KNOWN_TYPES.has(body.type))
      throw new ApiError(400, 'BAD_REQUEST', `adapter factory for ${body.type} not found`);
    if (state.registries.some((r) => r.name === name))
      throw new ApiError(409, 'CONFLICT', `registry ${name} already exists`);
    const record = state.addRegistry({
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
  getRegistry: ({ admin, op, state }) => {
    requireAdmin(admin);
    return { status: 200, body: registryView(registryOr404(state, op)) };
  },
  updateRegistry: ({ admin, op, body: input, state }) => {
    requireAdmin(admin);
    const body = input as RegistryUpdateReq;
    const record = registryOr404(state, op);
    if (body.name && body.name !== record.name && state.registries.some((r) => r.name === body.name)) {
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
    state.save();
    return { status: 200 };
  },
  deleteRegistry: ({ admin, op, state }) => {
    requireAdmin(admin);
    const record = registryOr404(state, op);
    if (state.projects.some((p) => p.registry_id === record.id)) {
      throw new ApiError(412, 'PRECONDITION', `registry ${record.id} is used by a proxy-cache project`);
    }
    state.removeRegistry(record.id);
    return { status: 200 };
  },
  pingRegistry: async ({ admin, body: input, state }) => {
    requireAdmin(admin);
    const body = input as RegistryPingReq;
    const target = body.id ? state.registry(Number(body.id))?.url : body.url;
    if (!target) throw new ApiError(404, 'NOT_FOUND', `registry ${body.id} not found`);
    const ok = await fetch(`${target}/v2/`, { signal: AbortSignal.timeout(5000) }).then(
      (r) => r.status === 200 || r.status === 401,
      () => false,
    );
    if (!ok) throw new ApiError(400, 'BAD_REQUEST', `failed to ping endpoint ${target}`);
    return { status: 200 };
  },
};

function registryOr404(state: HarborState, op: MatchedOperation): RegistryRecord {
  const record = state.registry(Number(op.pathParams.id));
  if (!record) throw new ApiError(404, 'NOT_FOUND', `registry ${op.pathParams.id} not found`);
  return record;
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
