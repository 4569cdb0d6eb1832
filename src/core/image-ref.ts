// Image references as the kubelet reads them: `nginx` is `docker.io/library/nginx:latest`.

export interface ImageRef {
  host: string;
  /** Repository path below the host, e.g. `library/nginx`, `openova-io/catalyst-api`. */
  path: string;
  tag?: string;
  digest?: string;
}

export function parseImageRef(text: string): ImageRef {
  let rest = text.trim();
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
  }
  let tag: string | undefined;
  const colon = rest.lastIndexOf(':');
  if (colon > rest.lastIndexOf('/')) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
  }
  const first = rest.split('/')[0] ?? '';
  const hasHost = rest.includes('/') && (first.includes('.') || first.includes(':') || first === 'localhost');
  let host = hasHost ? first : 'docker.io';
  let path = hasHost ? rest.slice(first.length + 1) : rest;
  if (host === 'index.docker.io' || host === 'registry-1.docker.io') host = 'docker.io';
  if (host === 'docker.io' && !path.includes('/')) path = `library/${path}`;
  if (!tag && !digest) tag = 'latest';
  return { host, path, ...(tag ? { tag } : {}), ...(digest ? { digest } : {}) };
}

export function formatImageRef(ref: ImageRef): string {
  return `${ref.host}/${ref.path}${ref.tag ? `:${ref.tag}` : ''}${ref.digest ? `@${ref.digest}` : ''}`;
}

/** The reference to fetch by: the digest when pinned, else the tag. */
export function reference(ref: ImageRef): string {
  return ref.digest ?? ref.tag ?? 'latest';
}
