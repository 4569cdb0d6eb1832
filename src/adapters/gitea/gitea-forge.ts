// The Sovereign's Git forge as the cutover uses it: Gitea's REST API (v1, shapes per Gitea's
// swagger). Request bodies are built by exported pure functions so tests can hold them against
// the spec.
import { PeerError } from '../../core/errors.ts';
import { basicAuth, callJson } from '../http-json.ts';

export interface ForgeRepo {
  name: string;
  mirror: boolean;
  empty: boolean;
  mirror_interval: string;
  /** Where a mirror pulls from (Repository.original_url in Gitea's swagger). */
  original_url: string;
  clone_url: string;
  default_branch: string;
}

export interface Forge {
  orgExists(org: string): Promise<boolean>;
  createOrg(org: string): Promise<void>;
  repo(owner: string, name: string): Promise<ForgeRepo | undefined>;
  deleteRepo(owner: string, name: string): Promise<boolean>;
  deleteOrg(org: string): Promise<boolean>;
  migrateMirror(input: MirrorInput, timeoutMs: number): Promise<'created' | 'timed-out'>;
  setMirrorInterval(owner: string, name: string, interval: string): Promise<void>;
  mirrorSync(owner: string, name: string): Promise<void>;
  branchHead(owner: string, name: string, branch: string): Promise<string | undefined>;
  /** Every file of a commit's tree (path, blob sha, size), all pages. */
  files(owner: string, name: string, commit: string): Promise<ForgeFile[]>;
  /** A blob's content. */
  blob(owner: string, name: string, sha: string): Promise<Buffer>;
  userExists(username: string): Promise<boolean>;
  /** Creates the user with `password`, or sets that password when it exists. */
  upsertUser(username: string, password: string): Promise<void>;
  deleteUser(username: string): Promise<boolean>;
  addReadCollaborator(owner: string, name: string, username: string): Promise<void>;
  /** Replaces the user's token `tokenName` (deleted, then created as the user: scoped read:repository); returns it. */
  rotateReadToken(username: string, password: string, tokenName: string): Promise<string>;
}

export interface ForgeFile {
  path: string;
  sha: string;
  size: number;
}

export interface MirrorInput {
  cloneAddr: string;
  owner: string;
  name: string;
  interval: string;
  /** A private upstream's credential: Gitea clones with it and keeps it for the mirror's syncs. */
  auth?: { username: string; password: string } | undefined;
}

export function createOrgBody(org: string): Record<string, unknown> {
  return { username: org, visibility: 'public' };
}

/** A pull mirror of branches and tags only: no issues, PRs, wiki, releases or LFS. */
export function migrateBody(input: MirrorInput): Record<string, unknown> {
  return {
    clone_addr: input.cloneAddr,
    repo_owner: input.owner,
    repo_name: input.name,
    mirror: true,
    mirror_interval: input.interval,
    ...(input.auth ? { auth_username: input.auth.username, auth_password: input.auth.password } : {}),
    service: 'git',
    private: false,
    issues: false,
    pull_requests: false,
    wiki: false,
    labels: false,
    milestones: false,
    releases: false,
    lfs: false,
  };
}

/** A user that only ever holds a token; nobody signs in as it. */
export function createUserBody(username: string, password: string): Record<string, unknown> {
  return {
    username,
    email: `${username}@sovereign-cutover.invalid`,
    full_name: 'sovereign-cutover: Flux reads the mirror as this user',
    password,
    must_change_password: false,
    visibility: 'private',
  };
}

export function setPasswordBody(username: string, password: string): Record<string, unknown> {
  return { source_id: 0, login_name: username, password, must_change_password: false };
}

export function readCollaboratorBody(): Record<string, unknown> {
  return { permission: 'read' };
}

export function readTokenBody(name: string): Record<string, unknown> {
  return { name, scopes: ['read:repository'] };
}

export function editMirrorIntervalBody(interval: string): Record<string, unknown> {
  return { mirror_interval: interval };
}

export class GiteaForge implements Forge {
  readonly #api: string;
  readonly #auth: string;

  constructor(baseUrl: string, credentials: { username: string; password: string }) {
    this.#api = `${baseUrl.replace(/\/+$/, '')}/api/v1`;
    this.#auth = basicAuth(credentials);
  }

  async orgExists(org: string): Promise<boolean> {
    return (await this.#call('GET', `/orgs/${enc(org)}`, undefined, [200, 404])).status === 200;
  }

  async createOrg(org: string): Promise<void> {
    // 422 = it exists already (a concurrent creator won); both are success.
    await this.#call('POST', '/orgs', createOrgBody(org), [201, 422]);
  }

  /** Deletes a repository (a rollback's purge); false when there was none. */
  async deleteRepo(owner: string, name: string): Promise<boolean> {
    return (await this.#call('DELETE', `/repos/${enc(owner)}/${enc(name)}`, undefined, [204, 404])).status === 204;
  }

  /** Deletes an organisation (it must hold no repository); false when there was none. */
  async deleteOrg(org: string): Promise<boolean> {
    return (await this.#call('DELETE', `/orgs/${enc(org)}`, undefined, [204, 404])).status === 204;
  }

  async repo(owner: string, name: string): Promise<ForgeRepo | undefined> {
    const res = await this.#call('GET', `/repos/${enc(owner)}/${enc(name)}`, undefined, [200, 404]);
    return res.status === 200 ? (res.body as ForgeRepo) : undefined;
  }

  /** Gitea clones before it answers; a big repo outlasts any sane client timeout, so a timeout is not a failure. */
  async migrateMirror(input: MirrorInput, timeoutMs: number): Promise<'created' | 'timed-out'> {
    try {
      await this.#call('POST', '/repos/migrate', migrateBody(input), [201, 409], timeoutMs);
      return 'created';
    } catch (error) {
      if (error instanceof PeerError && error.status === 0 && /timeout|aborted/i.test(error.body)) return 'timed-out';
      throw error;
    }
  }

  async setMirrorInterval(owner: string, name: string, interval: string): Promise<void> {
    await this.#call('PATCH', `/repos/${enc(owner)}/${enc(name)}`, editMirrorIntervalBody(interval), [200]);
  }

  async mirrorSync(owner: string, name: string): Promise<void> {
    await this.#call('POST', `/repos/${enc(owner)}/${enc(name)}/mirror-sync`, undefined, [200]);
  }

  async branchHead(owner: string, name: string, branch: string): Promise<string | undefined> {
    const res = await this.#call(
      'GET',
      `/repos/${enc(owner)}/${enc(name)}/branches/${enc(branch)}`,
      undefined,
      [200, 404],
    );
    return res.status === 200 ? (res.body as { commit: { id: string } }).commit.id : undefined;
  }

  async files(owner: string, name: string, commit: string): Promise<ForgeFile[]> {
    const files: ForgeFile[] = [];
    for (let page = 1; ; page++) {
      const res = await this.#call(
        'GET',
        `/repos/${enc(owner)}/${enc(name)}/git/trees/${enc(commit)}?recursive=true&per_page=1000&page=${page}`,
        undefined,
        [200],
      );
      const body = res.body as {
        tree?: Array<{ path: string; type: string; sha: string; size: number }>;
        truncated: boolean;
      };
      for (const e of body.tree ?? []) if (e.type === 'blob') files.push({ path: e.path, sha: e.sha, size: e.size });
      if (!body.truncated || !body.tree?.length) return files;
    }
  }

  async blob(owner: string, name: string, sha: string): Promise<Buffer> {
    const res = await this.#call('GET', `/repos/${enc(owner)}/${enc(name)}/git/blobs/${enc(sha)}`, undefined, [200]);
    const body = res.body as { content: string; encoding: string };
    return Buffer.from(body.content, body.encoding === 'base64' ? 'base64' : 'utf8');
  }

  async userExists(username: string): Promise<boolean> {
    return (await this.#call('GET', `/users/${enc(username)}`, undefined, [200, 404])).status === 200;
  }

  async upsertUser(username: string, password: string): Promise<void> {
    // 422: it exists (a rerun, or a racer): then the password is set, so this run can mint its token.
    const created = await this.#call('POST', '/admin/users', createUserBody(username, password), [201, 422]);
    if (created.status === 422)
      await this.#call('PATCH', `/admin/users/${enc(username)}`, setPasswordBody(username, password), [200]);
  }

  async deleteUser(username: string): Promise<boolean> {
    return (
      (await this.#call('DELETE', `/admin/users/${enc(username)}?purge=true`, undefined, [204, 404])).status === 204
    );
  }

  async addReadCollaborator(owner: string, name: string, username: string): Promise<void> {
    await this.#call(
      'PUT',
      `/repos/${enc(owner)}/${enc(name)}/collaborators/${enc(username)}`,
      readCollaboratorBody(),
      [204],
    );
  }

  async rotateReadToken(username: string, password: string, tokenName: string): Promise<string> {
    // Gitea mints a user's tokens only for that user's own basic credentials.
    const asUser = basicAuth({ username, password });
    const path = `/users/${enc(username)}/tokens`;
    await this.#call('DELETE', `${path}/${enc(tokenName)}`, undefined, [204, 404], undefined, asUser);
    const res = await this.#call('POST', path, readTokenBody(tokenName), [201], undefined, asUser);
    const token = (res.body as { sha1?: string }).sha1;
    if (!token) throw new PeerError('POST', this.#api + path, res.status, 'the new token was not returned');
    return token;
  }

  #call(method: string, path: string, body: unknown, ok: number[], timeoutMs?: number, authorization?: string) {
    return callJson(method, this.#api + path, {
      authorization: authorization ?? this.#auth,
      body,
      ok,
      ...(timeoutMs ? { timeoutMs } : {}),
    });
  }
}

const enc = encodeURIComponent;
