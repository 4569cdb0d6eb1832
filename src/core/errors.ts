// One error family for the whole product. `code` is machine-readable and stable;
// HTTP status and CLI exit code are each derived from it in exactly one place.

export class CutoverError extends Error {
  readonly code: string;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'CutoverError';
    this.code = code;
  }
}

/** A peer (registry, Gitea, Harbor, Kubernetes…) answered something we did not expect. */
export class PeerError extends CutoverError {
  readonly method: string;
  readonly url: string;
  readonly status: number;
  readonly body: string;
  constructor(method: string, url: string, status: number, body: string, options?: { cause?: unknown }) {
    const safeUrl = redactUrl(url);
    const safeBody = redact(body).slice(0, 2000);
    super(
      'peer-error',
      `${method} ${safeUrl} → ${status === 0 ? 'no answer' : status}${safeBody ? `: ${safeBody}` : ''}`,
      options,
    );
    this.name = 'PeerError';
    this.method = method;
    this.url = safeUrl;
    this.status = status;
    this.body = safeBody;
  }

  /** 5xx, 429 and "no answer at all" are worth retrying; everything else is a verdict. */
  get transient(): boolean {
    return this.status === 0 || this.status === 429 || this.status >= 500;
  }
}

/**
 * The one transient-error rule (the engine's step retries and `withRetries` both use it): worth
 * another attempt are a PeerError that is transient (5xx, 429, no answer), a CutoverError coded
 * `transient` (a Job past its deadline), a timeout, and a connection that broke (reset, refused,
 * broken pipe, a socket hung up, a fetch that failed or was terminated), whether the error or its
 * cause says so. Any other CutoverError is a verdict: its code decides, never words in its message.
 */
export function isTransient(error: unknown): boolean {
  if (error instanceof PeerError) return error.transient;
  if (error instanceof CutoverError) return error.code === 'transient';
  return (
    error instanceof Error &&
    (error.name === 'TimeoutError' ||
      /ECONNRESET|ECONNREFUSED|EPIPE|socket|terminated|fetch failed/i.test(
        `${error.message} ${String(error.cause ?? '')}`,
      ))
  );
}

/** Names under which a credential travels: JSON keys, query and form parameters. */
const SECRET_NAMES =
  'password|passwd|secret|access_secret|client_secret|token|access_token|refresh_token|id_token|private_token|auth|api_?key|private_key|secret_key|signature|x-amz-signature|sig';

const SECRET_PATTERNS: RegExp[] = [
  // "password": "…" in JSON (a body echoed back, a docker config).
  new RegExp(`("(?:${SECRET_NAMES})"\\s*:\\s*")[^"]*(")`, 'gi'),
  // ?token=… or &client_secret=… in a URL or a form body.
  new RegExp(`([?&](?:${SECRET_NAMES})=)[^&#\\s"']+`, 'gi'),
  // Authorization: Basic …, Bearer …, and Gitea's `token …`.
  /((?:Basic|Bearer)\s+)[A-Za-z0-9+/=._~-]+/g,
  /(authorization["']?\s*[:=]\s*["']?token\s+)[A-Za-z0-9+/=._~-]+/gi,
];

/** Removes credentials from free text (bodies, messages) before it reaches a log, status or event. */
export function redact(text: string): string {
  let out = text;
  // A pattern without a closing group gets the match offset (a number) as its next argument: not text.
  for (const pattern of SECRET_PATTERNS)
    out = out.replace(pattern, (_m, a: string, b: unknown) => `${a}***${typeof b === 'string' ? b : ''}`);
  return redactUrl(out);
}

/** `scheme://user:password@`: credentials written into a URL. */
const URL_CREDENTIALS = /(\b[a-z][a-z0-9+.-]*:\/\/)[^/@\s]+@/gi;

/** Masks `user:password@` in every URL in the text (for what is shown). */
export function redactUrl(text: string): string {
  return text.replace(URL_CREDENTIALS, '$1***@');
}

/** Drops `user:password@` from every URL in the text (for comparing or mapping a URL). */
export function withoutCredentials(text: string): string {
  return text.replace(URL_CREDENTIALS, '$1');
}
