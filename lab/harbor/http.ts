// The Harbor double's HTTP plumbing: the contract between the server's dispatch and its route
// handlers (context in, ApiResult out, ApiError for a refusal) and the small helpers both use.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { MatchedOperation } from '../swagger-validator.ts';
import type { Backends } from './backends.ts';
import type { HarborState } from './state.ts';

export type Handler = (ctx: ApiContext) => Promise<ApiResult> | ApiResult;

/** The double's own parts a handler may use, the same for every request. */
export interface HarborParts {
  state: HarborState;
  backends: Backends;
  externalUrl: string;
  port: number;
}

export interface ApiContext extends HarborParts {
  op: MatchedOperation;
  query: URLSearchParams;
  /** Checked against the operation's body schema before any handler runs; each handler reads it as its spec type. */
  body: unknown;
  admin: boolean;
  req: IncomingMessage;
}

export interface ApiResult {
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
}

export class ApiError extends Error {
  readonly status: number;
  readonly code: string;
  constructor(status: number, code: string, message: string) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

/** Basic auth with the double's admin account; anything else (no header, a Bearer token) is not admin. */
export function isAdmin(req: IncomingMessage, admin: { username: string; password: string }): boolean {
  const header = req.headers.authorization ?? '';
  if (!header.startsWith('Basic ')) return false;
  const [user, ...rest] = Buffer.from(header.slice(6), 'base64').toString().split(':');
  return user === admin.username && rest.join(':') === admin.password;
}

export function requireAdmin(admin: boolean): void {
  if (!admin) throw new ApiError(401, 'UNAUTHORIZED', 'authentication required');
}

/** `q=name=foo` → "foo" (exact match); undefined when the key is absent or fuzzy. */
export function queryTerm(q: string | null, key: string): string | undefined {
  for (const part of (q ?? '').split(',')) {
    const [k, v] = part.split('=', 2);
    if (k === key && v !== undefined && !v.startsWith('~')) return v;
  }
  return undefined;
}

export function queryFuzzy(q: string | null, key: string): string | undefined {
  for (const part of (q ?? '').split(',')) {
    const [k, v] = part.split('=', 2);
    if (k === key && v?.startsWith('~')) return v.slice(1);
  }
  return undefined;
}

export function paged(items: unknown[], query: URLSearchParams): ApiResult {
  const page = Number(query.get('page') ?? 1);
  const size = Number(query.get('page_size') ?? 10);
  return {
    status: 200,
    body: items.slice((page - 1) * size, page * size),
    headers: { 'x-total-count': String(items.length) },
  };
}

export function errors(code: string, message: string): { errors: Array<{ code: string; message: string }> } {
  return { errors: [{ code, message }] };
}

/** The distribution spec's error body (same shape, registry codes). */
export function registryErrors(code: string, message: string): unknown {
  return { errors: [{ code, message, detail: null }] };
}

export function sendJson(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  const text = JSON.stringify(body);
  res
    .writeHead(status, { ...headers, 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) })
    .end(text);
}

export async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

export function cryptoId(): string {
  return Math.random().toString(16).slice(2);
}
