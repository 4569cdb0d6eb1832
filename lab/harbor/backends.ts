// The double's backing `docker-registry` instances and their on-disk layout: one store for every
// push project, one pull-through cache per proxy-cache project. The API reads repositories from
// this layout; the /v2 proxy forwards to these URLs.
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { registryUrl, startRegistry, type RegistryInstance } from '../registry.ts';
import { freePort } from '../processes.ts';
import type { HarborState, ProjectRecord } from './state.ts';

export class Backends {
  readonly store: RegistryInstance;
  readonly #state: HarborState;
  readonly #name: string;
  readonly #stateDir: string;

  constructor(state: HarborState, config: { name: string; stateDir: string; storePort: number }) {
    this.#state = state;
    this.#name = config.name;
    this.#stateDir = config.stateDir;
    this.store = { name: `${config.name}-store`, port: config.storePort, dir: join(config.stateDir, 'store') };
  }

  proxyInstance(project: ProjectRecord): RegistryInstance {
    const registry = project.registry_id === null ? undefined : this.#state.registry(project.registry_id);
    return {
      name: `${this.#name}-proxy-${project.name}`,
      port: project.proxyPort ?? 0,
      dir: join(this.#stateDir, 'proxy', project.name),
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

  async ensureProxy(project: ProjectRecord): Promise<void> {
    if (!project.proxyPort) {
      project.proxyPort = await freePort();
      this.#state.save();
    }
    await startRegistry(this.proxyInstance(project));
  }

  backendUrl(project: ProjectRecord): string {
    return registryUrl(project.registry_id === null ? this.store : this.proxyInstance(project));
  }

  /** Push projects keep `<project>/<repo>` in the store; a proxy cache holds the upstream path. */
  backendRepo(project: ProjectRecord, name: string): string {
    return project.registry_id === null ? `${project.name}/${name}` : name;
  }

  /** Where the backing registry keeps this project's repositories (a push project's are below its name). */
  #repositoriesRoot(project: ProjectRecord): string {
    const store = project.registry_id === null ? this.store.dir : this.proxyInstance(project).dir;
    return join(store, 'storage', 'docker', 'registry', 'v2', 'repositories');
  }

  repositoryDir(project: ProjectRecord, name: string): string {
    return join(this.#repositoriesRoot(project), this.backendRepo(project, name));
  }

  /** Repository names (without the project) that hold at least one manifest revision. */
  repositories(project: ProjectRecord): string[] {
    const root = join(this.#repositoriesRoot(project), ...(project.registry_id === null ? [project.name] : []));
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
}
