// Validates HTTP requests and responses against a Swagger 2.0 document (Harbor's and Gitea's
// API specs vendored in specs/). Lab doubles call it on every request and every response, so
// a double can never accept or produce a shape the real peer would not.
import { readFileSync } from 'node:fs';
import { Ajv, type ValidateFunction } from 'ajv';
import addFormatsModule from 'ajv-formats';
import { parse as parseYaml } from 'yaml';

// ajv-formats is CommonJS; under nodenext its default export is the module object.
const addFormats = addFormatsModule as unknown as (ajv: Ajv) => Ajv;

interface Parameter {
  name: string;
  in: 'path' | 'query' | 'header' | 'body' | 'formData';
  required?: boolean;
  type?: string;
  enum?: unknown[];
  maximum?: number;
  minimum?: number;
  minLength?: number;
  schema?: unknown;
  $ref?: string;
}

/** The parts of a Swagger 2.0 document the validator reads. */
interface SwaggerSpec {
  basePath?: string;
  definitions?: Record<string, unknown>;
  paths: Record<string, Record<string, unknown>>;
}

interface Operation {
  operationId?: string;
  parameters?: Parameter[];
  responses: Record<string, { $ref?: string; schema?: unknown }>;
}

interface Route {
  template: string;
  regex: RegExp;
  names: string[];
  literals: number;
  methods: Record<string, Operation>;
  shared: Parameter[];
}

export interface MatchedOperation {
  operationId: string;
  template: string;
  pathParams: Record<string, string>;
  operation: Operation;
  parameters: Parameter[];
}

export class SwaggerValidationError extends Error {
  readonly problems: string[];
  constructor(message: string, problems: string[]) {
    super(`${message}: ${problems.join('; ')}`);
    this.name = 'SwaggerValidationError';
    this.problems = problems;
  }
}

export class SwaggerValidator {
  readonly basePath: string;
  readonly #spec: SwaggerSpec;
  readonly #routes: Route[];
  readonly #ajv: Ajv;
  readonly #compiled = new Map<unknown, ValidateFunction>();

  constructor(specPath: string) {
    const text = readFileSync(specPath, 'utf8');
    this.#spec = (specPath.endsWith('.json') ? JSON.parse(text) : parseYaml(text)) as SwaggerSpec;
    this.basePath = (this.#spec.basePath ?? '').replace(/\/$/, '');
    this.#ajv = new Ajv({ strict: false, allErrors: true });
    addFormats(this.#ajv);
    this.#ajv.addFormat('int32', {
      type: 'number',
      validate: (n: number) => Number.isInteger(n) && Math.abs(n) < 2 ** 31,
    });
    this.#ajv.addFormat('int64', { type: 'number', validate: (n: number) => Number.isInteger(n) });
    this.#ajv.addSchema({ $id: 'spec', definitions: toJsonSchema(this.#spec.definitions ?? {}) });
    this.#routes = Object.entries(this.#spec.paths).map(([template, item]) => {
      const names: string[] = [];
      const source = template.replace(/[.*+?^$()|[\]\\]/g, '\\$&').replace(/\\?\{([^}]+)\\?\}/g, (_m, name: string) => {
        names.push(name);
        return '([^/]+)';
      });
      const methods: Record<string, Operation> = {};
      for (const [key, value] of Object.entries(item)) if (key !== 'parameters') methods[key] = value as Operation;
      return {
        template,
        regex: new RegExp(`^${source}$`),
        names,
        literals: template.split('/').filter((s) => s && !s.startsWith('{')).length,
        methods,
        shared: ((item.parameters ?? []) as Parameter[]).map((p) => this.#resolveParam(p)),
      };
    });
  }

  /** Finds the operation for a method and a path below basePath; undefined when the spec has none. */
  match(method: string, path: string): MatchedOperation | undefined {
    const candidates = this.#routes
      .map((route) => ({ route, m: route.regex.exec(path) }))
      .filter((c) => c.m && c.route.methods[method.toLowerCase()])
      .sort((a, b) => b.route.literals - a.route.literals);
    const best = candidates[0];
    if (!best?.m) return undefined;
    const operation = best.route.methods[method.toLowerCase()] as Operation;
    const pathParams: Record<string, string> = {};
    best.route.names.forEach((name, i) => (pathParams[name] = decodeURIComponent(best.m?.[i + 1] ?? '')));
    const own = (operation.parameters ?? []).map((p) => this.#resolveParam(p));
    const parameters = [
      ...best.route.shared.filter((s) => !own.some((o) => o.name === s.name && o.in === s.in)),
      ...own,
    ];
    return {
      operationId: operation.operationId ?? `${method} ${best.route.template}`,
      template: best.route.template,
      pathParams,
      operation,
      parameters,
    };
  }

  /** Throws SwaggerValidationError listing every way the request breaks the spec. */
  validateRequest(
    op: MatchedOperation,
    query: URLSearchParams,
    headers: Record<string, string | string[] | undefined>,
    body: unknown,
  ): void {
    const problems: string[] = [];
    for (const p of op.parameters) {
      if (p.in === 'body') {
        if (body === undefined) {
          if (p.required) problems.push(`body "${p.name}" is required`);
          continue;
        }
        const validate = this.#compile(p.schema);
        if (!validate(body)) problems.push(...(validate.errors ?? []).map((e) => `body${e.instancePath} ${e.message}`));
        continue;
      }
      const raw =
        p.in === 'path'
          ? op.pathParams[p.name]
          : p.in === 'query'
            ? query.has(p.name)
              ? query.get(p.name)
              : undefined
            : headerValue(headers, p.name);
      if (raw === undefined || raw === null) {
        if (p.required) problems.push(`${p.in} parameter "${p.name}" is required`);
        continue;
      }
      const problem = checkScalar(p, raw);
      if (problem) problems.push(`${p.in} parameter "${p.name}" ${problem}`);
    }
    if (!op.parameters.some((p) => p.in === 'body') && body !== undefined)
      problems.push('this operation takes no body');
    if (problems.length) throw new SwaggerValidationError(`${op.operationId} request breaks the spec`, problems);
  }

  /** Throws when the status is not declared for the operation or the JSON body breaks its schema. */
  validateResponse(op: MatchedOperation, status: number, body: unknown): void {
    let response = op.operation.responses[String(status)] ?? op.operation.responses.default;
    if (!response) throw new SwaggerValidationError(`${op.operationId} response`, [`status ${status} is not declared`]);
    if (response.$ref) response = this.#resolve(response.$ref) as { schema?: unknown };
    if (!response.schema || body === undefined) return;
    const validate = this.#compile(response.schema);
    if (!validate(body)) {
      throw new SwaggerValidationError(
        `${op.operationId} ${status} response breaks the spec`,
        (validate.errors ?? []).map((e) => `body${e.instancePath} ${e.message}`),
      );
    }
  }

  #compile(schema: unknown): ValidateFunction {
    let validate = this.#compiled.get(schema);
    if (!validate) {
      validate = this.#ajv.compile(toJsonSchema(schema) as object);
      this.#compiled.set(schema, validate);
    }
    return validate;
  }

  #resolveParam(p: Parameter): Parameter {
    return p.$ref ? (this.#resolve(p.$ref) as Parameter) : p;
  }

  #resolve(ref: string): unknown {
    return ref
      .replace(/^#\//, '')
      .split('/')
      .reduce<unknown>(
        (node, key) => (node === undefined || node === null ? undefined : (node as Record<string, unknown>)[key]),
        this.#spec,
      );
  }
}

/** Swagger 2.0 schema → JSON Schema: `x-nullable` becomes a null type; refs point at the shared definitions. */
function toJsonSchema(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(toJsonSchema);
  if (!node || typeof node !== 'object') return node;
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(node)) {
    if (key === '$ref' && typeof value === 'string')
      out.$ref = value.replace(/^#\/definitions\//, 'spec#/definitions/');
    else if (key === 'example' || key === 'x-example') continue;
    else out[key] = toJsonSchema(value);
  }
  const nullable = (node as Record<string, unknown>)['x-nullable'] === true;
  if (nullable && typeof out.type === 'string') out.type = [out.type, 'null'];
  if (nullable && out.$ref) return { anyOf: [{ $ref: out.$ref }, { type: 'null' }] };
  return out;
}

function headerValue(headers: Record<string, string | string[] | undefined>, name: string): string | undefined {
  const v = headers[name.toLowerCase()];
  return Array.isArray(v) ? v[0] : v;
}

function checkScalar(p: Parameter, raw: string): string | undefined {
  switch (p.type) {
    case 'integer':
      if (!/^-?\d+$/.test(raw)) return `must be an integer, got "${raw}"`;
      if (p.maximum !== undefined && Number(raw) > p.maximum) return `must be ≤ ${p.maximum}`;
      if (p.minimum !== undefined && Number(raw) < p.minimum) return `must be ≥ ${p.minimum}`;
      break;
    case 'number':
      if (Number.isNaN(Number(raw))) return `must be a number, got "${raw}"`;
      break;
    case 'boolean':
      if (raw !== 'true' && raw !== 'false') return `must be true or false, got "${raw}"`;
      break;
    case 'string':
      if (p.minLength !== undefined && raw.length < p.minLength) return `must be at least ${p.minLength} characters`;
      break;
  }
  if (p.enum && !p.enum.map(String).includes(raw)) return `must be one of ${p.enum.join(', ')}`;
  return undefined;
}
