// A small OCI distribution-spec client: manifests and blobs by digest, the registry token
// flow (Bearer challenge → token endpoint, with basic credentials when we have them) and
// plain Basic auth. Used by the lab to seed registries and by the product to copy artifacts.
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { PeerError } from '../../core/errors.ts';
import { agentFor, trustedFetch } from '../trust.ts';
import type { HttpCall } from './blob-pump.ts';
import { basicAuth } from '../http-json.ts';
import { sha256Digest } from './digest.ts';
import { MANIFEST_ACCEPT } from './media-types.ts';

export interface RegistryCredentials {
  username: string;
  password: string;
}

export interface ManifestRef {
  digest: string;
  mediaType: string;
  size: number;
}

export interface FetchedManifest extends ManifestRef {
  bytes: Uint8Array;
}

type Action = 'pull' | 'push';

const REQUEST_TIMEOUT_MS = 120_000;
/**
 * The most a small answer (a manifest, a token, a tags list, an error) may be: distribution's and
 * containerd's manifest limit. A registry cannot make us buffer more.
 */
export const SMALL_ANSWER_MAX_BYTES = 4 * 1024 * 1024;

/** Names every request of ours in a registry's access log (an upstream's log then tells our copies from any other pull). */
export const USER_AGENT = { 'user-agent': 'sovereign-cutover' } as const;

export class DistributionClient {
  readonly baseUrl: string;
  readonly #credentials: RegistryCredentials | undefined;
  /** Bearer tokens by scope; Basic needs no cache. */
  readonly #tokens = new Map<string, string>();
  #basicChallenge = false;
  /** Scopes the registry serves without credentials. */
  readonly #anonymous = new Set<string>();

  /** `baseUrl` is the registry root, e.g. `http://127.0.0.1:15001`. */
  constructor(baseUrl: string, credentials?: RegistryCredentials) {
    this.baseUrl = baseUrl.replace(/\/+$/, '');
    this.#credentials = credentials;
  }

  async ping(): Promise<void> {
    const res = await this.#request('GET', '/v2/', undefined, {});
    await expectStatus(res, 'GET', `${this.baseUrl}/v2/`, [200]);
  }

  async headManifest(repo: string, reference: string): Promise<ManifestRef | undefined> {
    const url = `/v2/${repo}/manifests/${reference}`;
    const res = await this.#request('HEAD', url, { repo, action: 'pull' }, { accept: MANIFEST_ACCEPT });
    if (res.status === 404) return undefined;
    await expectStatus(res, 'HEAD', this.baseUrl + url, [200]);
    return {
      digest: res.headers.get('docker-content-digest') ?? '',
      mediaType: (res.headers.get('content-type') ?? '').split(';')[0] ?? '',
      size: Number(res.headers.get('content-length') ?? '0'),
    };
  }

  async getManifest(repo: string, reference: string): Promise<FetchedManifest> {
    const url = `/v2/${repo}/manifests/${reference}`;
    const res = await this.#request('GET', url, { repo, action: 'pull' }, { accept: MANIFEST_ACCEPT });
    await expectStatus(res, 'GET', this.baseUrl + url, [200]);
    const bytes = new Uint8Array(await res.arrayBuffer());
    const digest = sha256Digest(bytes);
    const declared = res.headers.get('docker-content-digest');
    if (reference.startsWith('sha256:') && digest !== reference) {
      throw new PeerError(
        'GET',
        this.baseUrl + url,
        res.status,
        `manifest digest ${digest} does not match the requested ${reference}`,
      );
    }
    if (declared && declared !== digest) {
      throw new PeerError(
        'GET',
        this.baseUrl + url,
        res.status,
        `manifest digest ${digest} does not match Docker-Content-Digest ${declared}`,
      );
    }
    const mediaType = (res.headers.get('content-type') ?? '').split(';')[0] ?? '';
    return { digest, mediaType, size: bytes.byteLength, bytes };
  }

  async putManifest(repo: string, reference: string, mediaType: string, bytes: Uint8Array): Promise<string> {
    const url = `/v2/${repo}/manifests/${reference}`;
    const res = await this.#request('PUT', url, { repo, action: 'push' }, { 'content-type': mediaType }, bytes);
    await expectStatus(res, 'PUT', this.baseUrl + url, [201]);
    const digest = sha256Digest(bytes);
    const declared = res.headers.get('docker-content-digest');
    if (declared && declared !== digest) {
      throw new PeerError('PUT', this.baseUrl + url, res.status, `registry stored ${declared}, expected ${digest}`);
    }
    return digest;
  }

  async hasBlob(repo: string, digest: string): Promise<boolean> {
    const url = `/v2/${repo}/blobs/${digest}`;
    const res = await this.#request('HEAD', url, { repo, action: 'pull' }, {});
    if (res.status === 404) return false;
    await expectStatus(res, 'HEAD', this.baseUrl + url, [200]);
    return true;
  }

  async getBlob(repo: string, digest: string): Promise<Uint8Array> {
    const url = `/v2/${repo}/blobs/${digest}`;
    const res = await this.#request('GET', url, { repo, action: 'pull' }, {});
    await expectStatus(res, 'GET', this.baseUrl + url, [200]);
    const bytes = new Uint8Array(await res.arrayBuffer());
    const actual = sha256Digest(bytes);
    if (actual !== digest)
      throw new PeerError('GET', this.baseUrl + url, res.status, `blob digest ${actual} does not match ${digest}`);
    return bytes;
  }

  /** Monolithic upload (POST then PUT with the digest); a blob already present is skipped. */
  async pushBlob(repo: string, digest: string, data: Uint8Array): Promise<'pushed' | 'present'> {
    if (await this.hasBlob(repo, digest)) return 'present';
    const start = `/v2/${repo}/blobs/uploads/`;
    const res = await this.#request('POST', start, { repo, action: 'push' }, { 'content-length': '0' });
    await expectStatus(res, 'POST', this.baseUrl + start, [202]);
    const location = res.headers.get('location');
    if (!location)
      throw new PeerError('POST', this.baseUrl + start, res.status, 'upload started without a Location header');
    const target = new URL(location, this.baseUrl + start);
    target.searchParams.set('digest', digest);
    const put = await this.#request(
      'PUT',
      target.toString(),
      { repo, action: 'push' },
      { 'content-type': 'application/octet-stream' },
      data,
    );
    await expectStatus(put, 'PUT', target.origin + target.pathname, [201]);
    return 'pushed';
  }

  /** The request that reads a blob, for the blob pump (which follows redirects to blob storage). */
  async blobRead(repo: string, digest: string): Promise<HttpCall> {
    const path = `/v2/${repo}/blobs/${digest}`;
    const authorization = await this.#authorizationFor({ repo, action: 'pull' }, path);
    return { url: this.baseUrl + path, headers: { ...USER_AGENT, ...(authorization ? { authorization } : {}) } };
  }

  /**
   * Starts a blob upload, first trying to mount `digest` from `fromRepo` of this registry (no bytes
   * move). Returns 'mounted', or the upload location to stream the blob to.
   */
  async startUpload(
    repo: string,
    mount?: { digest: string; fromRepo: string },
  ): Promise<{ mounted: true } | { mounted: false; location: string }> {
    const query = mount ? `?mount=${encodeURIComponent(mount.digest)}&from=${encodeURIComponent(mount.fromRepo)}` : '';
    const start = `/v2/${repo}/blobs/uploads/${query}`;
    const res = await this.#request('POST', start, { repo, action: 'push' }, { 'content-length': '0' });
    await expectStatus(res, 'POST', this.baseUrl + start, mount ? [201, 202] : [202]);
    await res.body?.cancel();
    if (res.status === 201) return { mounted: true };
    const location = res.headers.get('location');
    if (!location)
      throw new PeerError('POST', this.baseUrl + start, res.status, 'upload started without a Location header');
    return { mounted: false, location: new URL(location, this.baseUrl + start).toString() };
  }

  /** The PUT that closes an upload session with the blob's bytes, for the blob pump; the registry checks them against `digest`. */
  async uploadClose(repo: string, location: string, digest: string): Promise<HttpCall> {
    const url = new URL(location);
    url.searchParams.set('digest', digest);
    // An upload Location on another origin (storage the registry hands off to) gets no credentials.
    const authorization = this.#ownOrigin(url)
      ? await this.#authorizationFor({ repo, action: 'push' }, `/v2/${repo}/blobs/uploads/`)
      : undefined;
    return { url: url.toString(), headers: { ...USER_AGENT, ...(authorization ? { authorization } : {}) } };
  }

  #ownOrigin(url: URL): boolean {
    return url.origin === new URL(this.baseUrl).origin;
  }

  /** Drops every cached token (after a 401: one expired; the next request answers a fresh challenge). */
  forgetTokens(): void {
    this.#tokens.clear();
    this.#anonymous.clear();
  }

  /**
   * A request whose answer is small (manifests, HEADs, upload sessions, tokens' challenges): node:http
   * on the keep-alive agent — far cheaper per request than fetch, which matters at thousands of
   * requests — answered as a fetch Response. GET/HEAD follow redirects; a stalled registry times out.
   */
  async #small(method: string, url: URL, headers: Record<string, string>, body?: Uint8Array): Promise<Response> {
    for (let hop = 0; ; hop++) {
      const res = await this.#raw(
        method,
        url,
        body ? { ...headers, 'content-length': String(body.byteLength) } : headers,
        body,
        REQUEST_TIMEOUT_MS,
      );
      const chunks: Buffer[] = [];
      const tooLarge = () =>
        new PeerError(
          method,
          url.toString(),
          res.statusCode ?? 0,
          `answer larger than ${SMALL_ANSWER_MAX_BYTES} bytes`,
        );
      if (Number(res.headers['content-length'] ?? 0) > SMALL_ANSWER_MAX_BYTES && method !== 'HEAD') {
        res.destroy();
        throw tooLarge();
      }
      let read = 0;
      try {
        for await (const chunk of res) {
          read += (chunk as Buffer).length;
          if (read > SMALL_ANSWER_MAX_BYTES) {
            res.destroy();
            throw tooLarge();
          }
          chunks.push(chunk as Buffer);
        }
      } catch (error) {
        if (error instanceof PeerError) throw error;
        throw new PeerError(method, url.toString(), 0, error instanceof Error ? error.message : String(error), {
          cause: error,
        });
      }
      const status = res.statusCode ?? 0;
      const location = res.headers.location;
      if ((method === 'GET' || method === 'HEAD') && status >= 300 && status < 400 && location && hop < 5) {
        const next = new URL(location, url);
        // Credentials stay with the registry that asked for them.
        if (next.origin !== url.origin) delete headers.authorization;
        url = next;
        continue;
      }
      const responseHeaders = new Headers();
      for (const [key, value] of Object.entries(res.headers))
        if (value !== undefined) responseHeaders.set(key, Array.isArray(value) ? value.join(', ') : value);
      const nullBody = method === 'HEAD' || status === 204 || status === 304 || status < 200;
      return new Response(nullBody ? null : Buffer.concat(chunks), { status, headers: responseHeaders });
    }
  }

  /** The Authorization header for a scope, answering the registry's challenge first when we have none yet. */
  async #authorizationFor(scope: { repo: string; action: Action }, path: string): Promise<string | undefined> {
    const scopeKey = `repository:${scope.repo}:${scope.action === 'push' ? 'pull,push' : 'pull'}`;
    const known = this.#authorization(scopeKey);
    if (known || this.#anonymous.has(scopeKey)) return known;
    const probe = await this.#request(
      scope.action === 'push' ? 'POST' : 'HEAD',
      scope.action === 'push' ? `/v2/${scope.repo}/blobs/uploads/` : path,
      scope,
      scope.action === 'push' ? { 'content-length': '0' } : {},
    );
    await probe.body?.cancel();
    const auth = this.#authorization(scopeKey);
    if (!auth) this.#anonymous.add(scopeKey);
    return auth;
  }

  /** One request on a keep-alive agent; resolves when the response headers arrive. */
  #raw(
    method: string,
    url: URL,
    headers: Record<string, string>,
    bytes: Uint8Array | undefined,
    timeoutMs: number,
  ): Promise<IncomingMessage> {
    const https = url.protocol === 'https:';
    const send = https ? httpsRequest : httpRequest;
    return new Promise((resolve, reject) => {
      const req = send(
        url,
        // Keep-alive connections per host, trusting as the values say (bounded by the caller's concurrency).
        { method, headers: { ...USER_AGENT, ...headers }, agent: agentFor(url), timeout: timeoutMs },
        resolve,
      );
      const fail = (error: Error) =>
        reject(new PeerError(method, url.origin + url.pathname, 0, error.message, { cause: error }));
      req.on('error', fail);
      req.on('timeout', () => req.destroy(new Error(`no progress for ${timeoutMs / 1000} s`)));
      req.end(bytes);
    });
  }

  async listTags(repo: string): Promise<string[]> {
    const url = `/v2/${repo}/tags/list`;
    const res = await this.#request('GET', url, { repo, action: 'pull' }, {});
    if (res.status === 404) return [];
    await expectStatus(res, 'GET', this.baseUrl + url, [200]);
    const body = (await res.json()) as { tags?: string[] | null };
    return body.tags ?? [];
  }

  async #request(
    method: string,
    pathOrUrl: string,
    scope: { repo: string; action: Action } | undefined,
    headers: Record<string, string>,
    body?: Uint8Array,
  ): Promise<Response> {
    const url = pathOrUrl.startsWith('http') ? pathOrUrl : this.baseUrl + pathOrUrl;
    const scopeKey = scope ? `repository:${scope.repo}:${scope.action === 'push' ? 'pull,push' : 'pull'}` : 'registry';
    // Credentials go to this registry's origin only (an upload Location elsewhere gets none).
    const own = this.#ownOrigin(new URL(url));
    for (let attempt = 0; ; attempt++) {
      const auth = own ? this.#authorization(scopeKey) : undefined;
      const res = await this.#small(
        method,
        new URL(url),
        { ...headers, ...(auth ? { authorization: auth } : {}) },
        body,
      );
      // Answered without credentials and without a challenge: the scope is open, no probe needed later
      // (a push probe would open an upload session nobody finishes).
      if ((res.status < 400 || res.status === 404) && !auth && scope) this.#anonymous.add(scopeKey);
      if (res.status !== 401 || attempt > 0 || !own) return res;
      const challenge = res.headers.get('www-authenticate') ?? '';
      await res.body?.cancel();
      if (!(await this.#answerChallenge(challenge, scopeKey, method, url))) return res;
    }
  }

  #authorization(scopeKey: string): string | undefined {
    const token = this.#tokens.get(scopeKey);
    if (token) return `Bearer ${token}`;
    if (this.#basicChallenge && this.#credentials) return basicAuth(this.#credentials);
    return undefined;
  }

  /** Returns true when a retry with new credentials makes sense. */
  async #answerChallenge(challenge: string, scopeKey: string, method: string, url: string): Promise<boolean> {
    const scheme = challenge.split(' ', 1)[0]?.toLowerCase();
    if (scheme === 'basic') {
      if (!this.#credentials || this.#basicChallenge) return false;
      this.#basicChallenge = true;
      return true;
    }
    if (scheme !== 'bearer') return false;
    const params = parseChallenge(challenge);
    const realm = params.get('realm');
    if (!realm) throw new PeerError(method, url, 401, `Bearer challenge without realm: ${challenge}`);
    const tokenUrl = new URL(realm);
    // The registry names where its tokens come from; our credentials go there only over HTTPS, or to
    // the registry's own origin: a registry cannot send them in the clear to a host of its choosing.
    const mayCarry = tokenUrl.protocol === 'https:' || this.#ownOrigin(tokenUrl);
    if (this.#credentials && !mayCarry)
      throw new PeerError(
        method,
        url,
        401,
        `the token realm ${tokenUrl.origin} is neither HTTPS nor this registry: credentials are not sent there`,
      );
    const service = params.get('service');
    if (service) tokenUrl.searchParams.set('service', service);
    if (scopeKey !== 'registry') tokenUrl.searchParams.set('scope', scopeKey);
    let res: Response;
    try {
      res = await trustedFetch(tokenUrl, {
        headers: { ...USER_AGENT, ...(this.#credentials ? { authorization: basicAuth(this.#credentials) } : {}) },
        signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
      });
    } catch (error) {
      throw new PeerError('GET', tokenUrl.toString(), 0, error instanceof Error ? error.message : String(error), {
        cause: error,
      });
    }
    await expectStatus(res, 'GET', tokenUrl.toString(), [200]);
    const body = (await res.json()) as { token?: string; access_token?: string };
    const token = body.token ?? body.access_token;
    if (!token) throw new PeerError('GET', tokenUrl.toString(), res.status, 'token endpoint returned no token');
    this.#tokens.set(scopeKey, token);
    return true;
  }
}

/** Parses `Bearer realm="…",service="…",scope="…"` into its parameters. */
export function parseChallenge(header: string): Map<string, string> {
  const params = new Map<string, string>();
  for (const match of header.matchAll(/(\w+)="([^"]*)"/g)) params.set(match[1] as string, match[2] as string);
  return params;
}

async function expectStatus(res: Response, method: string, url: string, ok: number[]): Promise<void> {
  if (ok.includes(res.status)) return;
  const text = method === 'HEAD' ? '' : await res.text().catch(() => '');
  throw new PeerError(method, url, res.status, text);
}
