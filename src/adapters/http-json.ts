// One JSON-over-HTTP call for the REST adapters (Gitea, Harbor): expected statuses or a PeerError
// carrying method, URL, status and body (redacted), and a timeout on every call.
import { PeerError } from '../core/errors.ts';
import { trustedFetch } from './trust.ts';

export interface JsonCall {
  authorization: string;
  body?: unknown;
  ok: number[];
  headers?: Record<string, string>;
  timeoutMs?: number;
}

export function basicAuth(credentials: { username: string; password: string }): string {
  return `Basic ${Buffer.from(`${credentials.username}:${credentials.password}`).toString('base64')}`;
}

export async function callJson(
  method: string,
  url: string,
  call: JsonCall,
): Promise<{ status: number; body: unknown }> {
  let res: Response;
  try {
    res = await trustedFetch(url, {
      method,
      headers: {
        authorization: call.authorization,
        accept: 'application/json',
        ...call.headers,
        ...(call.body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(call.body === undefined ? {} : { body: JSON.stringify(call.body) }),
      signal: AbortSignal.timeout(call.timeoutMs ?? 30_000),
    });
  } catch (error) {
    throw new PeerError(method, url, 0, fetchFailure(error), { cause: error });
  }
  const text = await res.text();
  if (!call.ok.includes(res.status)) throw new PeerError(method, url, res.status, text);
  let parsed: unknown = text;
  try {
    parsed = text ? JSON.parse(text) : undefined;
  } catch {
    /* a plain-text answer */
  }
  return { status: res.status, body: parsed };
}

/** Why a fetch failed, with its root cause (fetch says only "fetch failed"; the cause names the TLS or socket error). */
export function fetchFailure(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  let root: unknown = error.cause;
  while (root instanceof Error && root.cause instanceof Error) root = root.cause;
  return `${error.name}: ${error.message}${root instanceof Error ? `: ${root.message}` : ''}`;
}
