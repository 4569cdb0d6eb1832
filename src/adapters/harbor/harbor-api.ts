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

/** A system robot that may only pull, and only in `projects`; it never expires (the cutover rotates its secret). */
export function pullRobotBody(name: string, projects: string[]): Record<string, unknown> {
  return {
    name,
    description: 'sovereign-cutover: pulls for Flux and the pull Secrets, in the cutover projects only',
    level: 'system',
    disable: false,
    duration: -1,
    permissions: projects.map((namespace) => ({
      kind: 'project',
      namespace,
      access: [{ resource: 'repository', action: 'pull' }],
    })),
  };
}

interface HarborRobot {
  id: number;
  name: string;
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

  async registry(id: number): Promise<HarborRegistryEndpoint | undefined> {
    const res = await this.#call('GET', `/registries/${id}`, undefined, [200, 404]);
    return res.status === 200 ? (res.body as HarborRegistryEndpoint) : undefined;
  }

  async createRegistry(input: RegistryEndpointInput): Promise<'created' | 'exists'> {
    const res = await this.#call('POST', '/registries', registryBody(input), [201, 409]);
    return res.status === 201 ? 'created' : 'exists';
  }

  /** The robot whose Harbor name is `robot$<name>` (system robots: few, so every page is read). */
  async robot(name: string): Promise<HarborRobot | undefined> {
    for (let page = 1; ; page++) {
      const res = await this.#call('GET', `/robots?page=${page}&page_size=100`, undefined, [200]);
      const robots = (res.body as HarborRobot[] | undefined) ?? [];
      const found = robots.find((r) => r.name === `robot$${name}`);
      if (found || robots.length < 100) return found;
    }
  }

  /**
   * The pull robot's credentials, with a secret new on every call: created, or its permissions set to
   * `projects` and its secret refreshed (the previous one stops working at once).
   */
  async rotatePullRobot(name: string, projects: string[]): Promise<{ username: string; password: string }> {
    const existing = await this.robot(name);
    if (!existing) {
      const res = await this.#call('POST', '/robots', pullRobotBody(name, projects), [201]);
      const created = res.body as { name: string; secret: string };
      return { username: created.name, password: created.secret };
    }
    await this.#call('PUT', `/robots/${existing.id}`, { ...pullRobotBody(name, projects), name: existing.name }, [200]);
    const res = await this.#call('PATCH', `/robots/${existing.id}`, {}, [200]);
    return { username: existing.name, password: (res.body as { secret: string }).secret };
  }

  /** Deletes the robot (its credentials stop working); false when there was none. */
  async deleteRobot(name: string): Promise<boolean> {
    const robot = await this.robot(name);
    if (!robot) return false;
    await this.#call('DELETE', `/robots/${robot.id}`, undefined, [200, 404]);
    return true;
  }

  #call(method: string, path: string, body: unknown, ok: number[], headers: Record<string, string> = {}) {
    return callJson(method, this.#api + path, { authorization: this.#auth, body, ok, headers });
  }
}
