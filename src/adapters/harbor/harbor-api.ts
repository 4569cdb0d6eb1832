// The Sovereign's Harbor as the cutover uses it: the v2.0 REST API (shapes per Harbor's swagger),
// basic auth. Request bodies are built by exported pure functions so tests can hold them against
// the spec.
import { basicAuth, callJson } from '../http-json.ts';

export interface HarborProject {
  project_id: number;
  name: string;
  registry_id?: number;
  metadata?: Record<string, string>;
}

export interface HarborRegistryEndpoint {
  id: number;
  name: string;
  url: string;
  type: string;
}

export interface RegistryEndpointInput {
  name: string;
  type: string;
  url: string;
  credential?: { username: string; password: string };
}

export function registryBody(input: RegistryEndpointInput): Record<string, unknown> {
  return {
    name: input.name,
    type: input.type,
    url: input.url,
    insecure: input.url.startsWith('http://'),
    description: 'upstream endpoint of a proxy-cache project (sovereign-cutover)',
    ...(input.credential
      ? {
          credential: {
            type: 'basic',
            access_key: input.credential.username,
            access_secret: input.credential.password,
          },
        }
      : {}),
  };
}

/** Public: nodes pull anonymously through containerd's hosts.toml. */
export function projectBody(name: string, registryId?: number): Record<string, unknown> {
  return {
    project_name: name,
    public: true,
    metadata: { public: 'true' },
    ...(registryId === undefined ? {} : { registry_id: registryId }),
  };
}

export class HarborApi {
  readonly #api: string;
  readonly #auth: string;

  constructor(baseUrl: string, credentials: { username: string; password: string }) {
    this.#api = `${baseUrl.replace(/\/+$/, '')}/api/v2.0`;
    this.#auth = basicAuth(credentials);
  }

  async project(name: string): Promise<HarborProject | undefined> {
    const res = await this.#call('GET', `/projects/${encodeURIComponent(name)}`, undefined, [200, 404], {
      'x-is-resource-name': 'true',
    });
    return res.status === 200 ? (res.body as HarborProject) : undefined;
  }

  /**
   * Deletes a project and every repository in it (Harbor refuses to delete a project that holds any):
   * a rollback's purge. False when there was none.
   */
  async deleteProject(name: string): Promise<boolean> {
    if (!(await this.project(name))) return false;
    const project = encodeURIComponent(name);
    for (;;) {
      const page = await this.#call('GET', `/projects/${project}/repositories?page=1&page_size=100`, undefined, [200]);
      const repos = (page.body as Array<{ name: string }> | undefined) ?? [];
      if (!repos.length) break;
      // A repository name nests with slashes; Harbor wants it URL-encoded twice in the path.
      for (const r of repos)
        await this.#call(
          'DELETE',
          `/projects/${project}/repositories/${encodeURIComponent(encodeURIComponent(r.name.slice(name.length + 1)))}`,
          undefined,
          [200, 404],
        );
    }
    await this.#call('DELETE', `/projects/${project}`, undefined, [200, 404], { 'x-is-resource-name': 'true' });
    return true;
  }

  /** 201 and 409 are both success: the project is there either way. */
  async createProject(name: string, registryId?: number): Promise<'created' | 'exists'> {
    const res = await this.#call('POST', '/projects', projectBody(name, registryId), [201, 409]);
    return res.status === 201 ? 'created' : 'exists';
  }

  async registryByName(name: string): Promise<HarborRegistryEndpoint | undefined> {
    const res = await this.#call('GET', `/registries?q=${encodeURIComponent(`name=${name}`)}`, undefined, [200]);
    return (res.body as HarborRegistryEndpoint[]).find((r) => r.name === name);
  }

  async createRegistry(input: RegistryEndpointInput): Promise<'created' | 'exists'> {
    const res = await this.#call('POST', '/registries', registryBody(input), [201, 409]);
    return res.status === 201 ? 'created' : 'exists';
  }

  #call(method: string, path: string, body: unknown, ok: number[], headers: Record<string, string> = {}) {
    return callJson(method, this.#api + path, { authorization: this.#auth, body, ok, headers });
  }
}
