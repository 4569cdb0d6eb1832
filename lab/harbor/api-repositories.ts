// Harbor API: a project's repositories and artifacts. Repositories are read from the backing
// registry's storage layout, artifacts from its manifests — the double keeps no copy of either.
import { existsSync, readdirSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { MANIFEST_ACCEPT } from '../../src/adapters/oci/media-types.ts';
import type { Backends } from './backends.ts';
import { ApiError, paged, requireAdmin, type Handler } from './http.ts';
import { isPublic, type HarborState, type ProjectRecord } from './state.ts';

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

export const repositoryHandlers: Record<string, Handler> = {
  listRepositories: ({ admin, op, query, state, backends }) => {
    const project = readableProject(state, op.pathParams.project_name ?? '', admin);
    return paged(
      backends.repositories(project).map((name) => repositoryView(backends, project, name)),
      query,
    );
  },
  getRepository: ({ admin, op, state, backends }) => {
    const project = readableProject(state, op.pathParams.project_name ?? '', admin);
    const name = decodeURIComponent(op.pathParams.repository_name ?? '');
    if (!backends.repositories(project).includes(name))
      throw new ApiError(404, 'NOT_FOUND', `repository ${project.name}/${name} not found`);
    return { status: 200, body: repositoryView(backends, project, name) };
  },
  deleteRepository: ({ admin, op, state, backends }) => {
    requireAdmin(admin);
    const project = readableProject(state, op.pathParams.project_name ?? '', admin);
    const name = decodeURIComponent(op.pathParams.repository_name ?? '');
    const dir = backends.repositoryDir(project, name);
    if (!existsSync(dir)) throw new ApiError(404, 'NOT_FOUND', `repository ${project.name}/${name} not found`);
    rmSync(dir, { recursive: true, force: true });
    return { status: 200 };
  },
  listArtifacts: async ({ admin, op, query, state, backends }) => {
    const project = readableProject(state, op.pathParams.project_name ?? '', admin);
    const name = decodeURIComponent(op.pathParams.repository_name ?? '');
    const tags = await backendJson<{ tags: string[] | null }>(
      backends,
      project,
      `/v2/${backends.backendRepo(project, name)}/tags/list`,
    );
    const artifacts = new Map<string, Artifact>();
    for (const tag of tags?.tags ?? []) {
      const artifact = await fetchArtifact(backends, project, name, tag);
      if (!artifact) continue;
      const seen = artifacts.get(artifact.digest);
      if (seen) seen.tags.push(...artifact.tags);
      else artifacts.set(artifact.digest, artifact);
    }
    return paged([...artifacts.values()], query);
  },
  getArtifact: async ({ admin, op, state, backends }) => {
    const project = readableProject(state, op.pathParams.project_name ?? '', admin);
    const name = decodeURIComponent(op.pathParams.repository_name ?? '');
    const artifact = await fetchArtifact(backends, project, name, op.pathParams.reference ?? '');
    if (!artifact)
      throw new ApiError(404, 'NOT_FOUND', `artifact ${project.name}/${name}@${op.pathParams.reference} not found`);
    return { status: 200, body: artifact };
  },
};

function readableProject(state: HarborState, name: string, admin: boolean): ProjectRecord {
  const project = state.project(name, true);
  if (!project) throw new ApiError(404, 'NOT_FOUND', `project ${name} not found`);
  if (!admin && !isPublic(project)) throw new ApiError(401, 'UNAUTHORIZED', 'unauthorized');
  return project;
}

function repositoryView(backends: Backends, project: ProjectRecord, name: string): unknown {
  const dir = backends.repositoryDir(project, name);
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

async function fetchArtifact(
  backends: Backends,
  project: ProjectRecord,
  name: string,
  reference: string,
): Promise<Artifact | undefined> {
  const res = await fetch(
    `${backends.backendUrl(project)}/v2/${backends.backendRepo(project, name)}/manifests/${reference}`,
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

async function backendJson<T>(backends: Backends, project: ProjectRecord, path: string): Promise<T | undefined> {
  const res = await fetch(`${backends.backendUrl(project)}${path}`).catch(() => undefined);
  if (!res || res.status !== 200) return undefined;
  return (await res.json()) as T;
}

/** Stable ids from names: the same repository or digest gets the same id across restarts. */
function hashId(text: string): number {
  let h = 0;
  for (const ch of text) h = (Math.imul(h, 31) + ch.charCodeAt(0)) | 0;
  return Math.abs(h);
}
