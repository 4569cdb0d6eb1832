// Test helpers over the shared lab: its endpoints, unique names per test, a Harbor API caller,
// and fresh images nobody has pulled before (unique content, so caches cannot answer for them).
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after } from 'node:test';
import { DistributionClient } from '../../src/adapters/oci/distribution-client.ts';
import { CorpusGenerator, topManifest } from '../../lab/corpus/generate.ts';
import { GIT_ROOT, GITOPS_BARE_DIR } from '../../lab/git/git.ts';
import { readEndpoints, UPSTREAM_GIT_PRIVATE, type Endpoints } from '../../lab/topology.ts';
import { trustPeersCa } from '../../lab/peers-pki.ts';

/** The lab's endpoints; the test process trusts the Sovereign's private CA as the cutover does (values' tls). */
export function lab(): Endpoints {
  const e = readEndpoints();
  trustPeersCa();
  return e;
}

export function uniqueName(prefix: string): string {
  return `${prefix}-${randomBytes(4).toString('hex')}`;
}

export interface HarborCall {
  status: number;
  headers: Headers;
  body: any;
}

/** Calls a Harbor (double) API path below /api/v2.0 as admin unless `anonymous`. */
export function harborApi(base: string, credentials: { username: string; password: string }) {
  return async (
    method: string,
    path: string,
    body?: unknown,
    options: { anonymous?: boolean; rawBody?: string } = {},
  ): Promise<HarborCall> => {
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    if (!options.anonymous)
      headers.authorization = `Basic ${Buffer.from(`${credentials.username}:${credentials.password}`).toString('base64')}`;
    const payload = options.rawBody ?? (body === undefined ? undefined : JSON.stringify(body));
    const res = await fetch(`${base}/api/v2.0${path}`, {
      method,
      headers,
      ...(payload === undefined ? {} : { body: payload }),
    });
    const text = await res.text();
    let parsed: unknown = text;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      /* plain text answer */
    }
    return { status: res.status, headers: res.headers, body: parsed };
  };
}

/** Pushes a single-platform image with one unique layer; returns its manifest digest. */
export async function pushFreshImage(client: DistributionClient, repo: string, tag: string): Promise<string> {
  const built = new CorpusGenerator().build({
    kind: 'image',
    upstream: 'ghcr',
    repo,
    tag,
    format: 'oci',
    platforms: ['amd64'],
    layers: [{ name: `fresh-${randomBytes(8).toString('hex')}`, bytes: 4096 }],
  });
  for (const blob of built.blobs) await client.pushBlob(repo, blob.digest, blob.data);
  const top = topManifest(built);
  return await client.putManifest(repo, tag, top.mediaType, top.bytes);
}

/** Cleanups registered by a test file, run in reverse order after all its tests, whatever happened. */
export function cleanupsAfterAll(): Array<() => Promise<unknown>> {
  const cleanups: Array<() => Promise<unknown>> = [];
  after(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup();
  });
  return cleanups;
}

/** Deletes a Gitea org of a test and its repository (as the lab's Gitea admin). */
export async function dropGiteaOrg(org: string, repo = 'openova'): Promise<void> {
  const { gitea } = lab();
  const headers = { authorization: `token ${gitea.token}` };
  await fetch(`${gitea.url}/api/v1/repos/${org}/${repo}`, { method: 'DELETE', headers });
  await fetch(`${gitea.url}/api/v1/orgs/${org}`, { method: 'DELETE', headers });
}

/** Deletes a local Harbor project of a test with every repository in it. */
export async function dropHarborProject(name: string): Promise<void> {
  const { localHarbor } = lab();
  const api = harborApi(localHarbor.url, localHarbor);
  const repos = (await api('GET', `/projects/${name}/repositories?page_size=100`)).body ?? [];
  for (const r of repos as Array<{ name: string }>) {
    await api(
      'DELETE',
      `/projects/${name}/repositories/${encodeURIComponent(encodeURIComponent(r.name.slice(name.length + 1)))}`,
    );
  }
  await api('DELETE', `/projects/${name}`);
}

/** Commits one file to a bare repository's main branch, as an upstream maintainer would; returns the commit. */
export function pushFile(bare: string, file: string, content: string): string {
  return pushFiles(bare, { [file]: content });
}

/** Commits several files at once (one upstream commit); returns the commit. */
export function pushFiles(bare: string, files: Record<string, string>): string {
  const work = mkdtempSync(join(tmpdir(), 'lab-push-'));
  try {
    const git = (...args: string[]) => execFileSync('git', ['-C', work, ...args], { encoding: 'utf8' }).trim();
    execFileSync('git', ['clone', '-q', bare, work]);
    for (const [file, content] of Object.entries(files)) {
      mkdirSync(dirname(join(work, file)), { recursive: true });
      writeFileSync(join(work, file), content);
    }
    git('add', '-A');
    git(
      '-c',
      'user.name=Lab Maintainer',
      '-c',
      'user.email=maintainer@openova.invalid',
      'commit',
      '-q',
      '-m',
      `update ${Object.keys(files).join(', ')}`,
    );
    git('push', '-q', 'origin', 'HEAD:main');
    return git('rev-parse', 'HEAD');
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

/** A file of a bare repository's main branch. */
export function fileOnMain(bare: string, file: string): string {
  return execFileSync('git', ['-C', bare, 'show', `main:${file}`], { encoding: 'utf8' });
}

/**
 * A copy of the upstream GitOps repository that only this test moves: served by the upstream Git
 * at `url`; `push` commits a file on `main` upstream (as a maintainer's push would) and returns the
 * new head. Removed by `cleanups`.
 */
export function forkUpstreamRepo(
  cleanups: Array<() => Promise<unknown>>,
  options: { private?: boolean } = {},
): {
  url: string;
  push: (file: string, content: string) => string;
} {
  const name = uniqueName('fork');
  // Under a `private-` org the upstream Git serves it only with UPSTREAM_GIT_PRIVATE's credential.
  const org = options.private ? `${UPSTREAM_GIT_PRIVATE.orgPrefix}lab-tests` : 'lab-tests';
  const bare = join(GIT_ROOT, org, `${name}.git`);
  execFileSync('git', ['clone', '-q', '--bare', GITOPS_BARE_DIR, bare]);
  cleanups.push(async () => rmSync(bare, { recursive: true, force: true }));
  const push = (file: string, content: string): string => pushFile(bare, file, content);
  return { url: `${lab().git.url}/${org}/${name}.git`, push };
}
