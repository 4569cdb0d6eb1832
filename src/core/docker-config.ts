// A `.dockerconfigjson` document (the `kubernetes.io/dockerconfigjson` Secret's key): read into
// registry credentials by host, or given one more entry. Pure: callers read and write the Secret.

/** Registry credentials as an `auths` entry gives them. */
export interface RegistryCredentials {
  username: string;
  password: string;
}

/**
 * A parsed document. `auths` holds the entries by registry key exactly as written (a key may be a
 * URL, an entry may carry more fields than credentials); every other field is kept, so a document
 * given a new entry is written back with nothing else changed.
 */
export interface DockerConfig {
  auths: Record<string, unknown>;
  [field: string]: unknown;
}

const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/**
 * Parses a document as stored in a Secret's `data` (`base64`) or as decoded (`json`). Throws
 * JSON.parse's SyntaxError on malformed JSON — each caller decides what that means for it. A JSON
 * value with no `auths` object has no entries.
 */
export function parseDockerConfig(text: string, encoding: 'json' | 'base64' = 'json'): DockerConfig {
  const document: unknown = JSON.parse(encoding === 'base64' ? Buffer.from(text, 'base64').toString('utf8') : text);
  const fields = isRecord(document) ? document : {};
  // Spread first: an existing `auths` keeps its place in the document when it is written back.
  return { ...fields, auths: isRecord(fields.auths) ? fields.auths : {} };
}

/** The document as JSON (the cluster adapter base64-encodes a Secret's data). */
export function serializeDockerConfig(config: DockerConfig): string {
  return JSON.stringify(config);
}

/** The registry host an `auths` key names: `https://ghcr.io/v1/` → `ghcr.io`. */
export function registryHost(key: string): string {
  return key.replace(/^https?:\/\//, '').replace(/\/.*$/, '');
}

/**
 * Credentials by registry host. `username`/`password` given in the entry win over the ones `auth`
 * (base64 of `user:password`, the password may hold colons) encodes. Keys naming the same host: the
 * later one wins.
 */
export function registryCredentials(config: DockerConfig): Map<string, RegistryCredentials> {
  const byHost = new Map<string, RegistryCredentials>();
  for (const [key, value] of Object.entries(config.auths)) {
    const entry = isRecord(value) ? value : {};
    const given = (field: string) => (typeof entry[field] === 'string' ? entry[field] : undefined);
    const auth = given('auth');
    const [user, ...rest] = auth ? Buffer.from(auth, 'base64').toString().split(':') : [];
    byHost.set(registryHost(key), {
      username: given('username') ?? user ?? '',
      password: given('password') ?? rest.join(':'),
    });
  }
  return byHost;
}

/**
 * The document with `host` given these credentials (`username`, `password` and the `auth` that
 * encodes them), replacing the entry under that exact key and leaving every other entry alone;
 * undefined when the entry's `auth` already encodes them, so an unchanged Secret is not written.
 */
export function withRegistryAuth(
  config: DockerConfig,
  host: string,
  credentials: RegistryCredentials,
): DockerConfig | undefined {
  const auth = Buffer.from(`${credentials.username}:${credentials.password}`).toString('base64');
  const current = config.auths[host];
  if (isRecord(current) && current.auth === auth) return undefined;
  return {
    ...config,
    auths: { ...config.auths, [host]: { username: credentials.username, password: credentials.password, auth } },
  };
}
