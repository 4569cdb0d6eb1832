// `cutover chart`: the Helm chart of the install, generated from `render` (ADR 0023) so there is one
// definition of every object. The generator asks the renderer which values keys reach the objects and
// how: a key that never changes them stays a runtime value (it reaches the pods through the values
// ConfigMap, which the chart fills from `.Values`); a key the renderer copies into strings or numbers
// becomes a template expression, proven by rendering with probe values; a key that shapes the objects
// (RBAC rules per namespace, conditions, derived names) is pinned: the chart refuses another value
// with an error that says how to get a chart for it.
import { parse as parseYaml, stringify } from 'yaml';
import { VALUES_CONFIGMAP } from '../core/contracts.ts';
import { CutoverError } from '../core/errors.ts';
import { parseValues, VALUES_SCHEMA } from '../core/values.ts';
import { blueprint, render } from './render.ts';

export const CHART_NAME = 'bp-self-sovereign-cutover';
/** The chart's own key (not a cutover value): false leaves the release namespace to Helm or Flux. */
const CREATE_NAMESPACE = 'createNamespace';
const BLUEPRINT_API = 'catalyst.openova.io/v1alpha1/Blueprint';

type Doc = Record<string, unknown>;
type Path = string[];
type Scalar = string | number;

/** How the chart treats one values key. */
export interface KeyRole {
  path: Path;
  role: 'runtime' | 'template' | 'pinned';
}

const isDoc = (v: unknown): v is Doc => typeof v === 'object' && v !== null && !Array.isArray(v);
const clone = <T>(v: T): T => structuredClone(v);

/** Every values key the schema knows, down to its scalars and lists. */
function schemaLeaves(schema: Doc, prefix: Path = []): Path[] {
  const properties = schema.properties;
  if (!isDoc(properties)) return [prefix];
  return Object.entries(properties).flatMap(([key, sub]) => schemaLeaves(sub as Doc, [...prefix, key]));
}

function schemaAt(path: Path): Doc {
  let s: Doc = VALUES_SCHEMA as Doc;
  for (const key of path) s = (s.properties as Doc)[key] as Doc;
  return s;
}

function getAt(doc: unknown, path: Path): { found: boolean; value?: unknown } {
  let v = doc;
  for (const key of path) {
    if (!isDoc(v) || !(key in v)) return { found: false };
    v = v[key];
  }
  return { found: true, value: v };
}

/** A key's value: the document's own, else what the parser made of its absence (its default). */
function valueAt(doc: Doc, parsed: Doc, path: Path): unknown {
  const own = getAt(doc, path);
  return own.found ? own.value : getAt(parsed, path).value;
}

function setAt(doc: Doc, path: Path, value: unknown): Doc {
  const copy = clone(doc);
  let v = copy;
  for (const key of path.slice(0, -1)) {
    if (!isDoc(v[key])) v[key] = {};
    v = v[key] as Doc;
  }
  v[path.at(-1)!] = value;
  return copy;
}

/** The install's objects for a values document, without the values ConfigMap (its text is the document). */
function objectsFor(doc: Doc, namespace: string, version: string): string | undefined {
  try {
    const values = parseValues(stringify(doc), 'probe');
    return JSON.stringify(
      render(values, { namespace, valuesText: '', version, namespaceObject: false }).filter(
        (o) => o.metadata?.name !== VALUES_CONFIGMAP,
      ),
    );
  } catch {
    return undefined; // the probe is not a valid value for this key (the parser or the renderer says so)
  }
}

/** A value for a list key the schema accepts (one sample element), so its effect can be probed. */
function sampleOf(schema: Doc, token: string): unknown {
  if (Array.isArray(schema.enum)) return schema.enum[0];
  if (schema.type === 'string')
    return typeof schema.pattern === 'string' && schema.pattern.includes('://') ? `https://${token}.example` : token;
  if (schema.type === 'integer' || schema.type === 'number') return 7;
  if (schema.type === 'boolean') return true;
  if (schema.type === 'array') return [sampleOf((schema.items ?? {}) as Doc, token)];
  if (isDoc(schema.properties))
    return Object.fromEntries(
      Object.entries(schema.properties).map(([k, sub]) => [k, sampleOf(sub as Doc, `${token}${k.toLowerCase()}`)]),
    );
  return token;
}

/** Probe values for a key: distinct, and for strings placed early and late in sort order. */
function probesFor(path: Path, current: unknown, i: number): unknown[] {
  if (typeof current === 'string') {
    const tail = `q${i}x`;
    return [`${current}${tail}`, `0${current}${tail}`, `zz${current}${tail}`];
  }
  if (typeof current === 'number') return [47_000 + i, 48_000 + i];
  if (typeof current === 'boolean') return [!current];
  if (Array.isArray(current)) {
    const sample = sampleOf((schemaAt(path).items ?? {}) as Doc, `q${i}s`);
    return [current.length ? [] : [sample], [...current, sample]];
  }
  if (isDoc(current)) return [{}];
  return [];
}

/** Replaces every occurrence of a scalar token in a JSON text of objects (strings inside, or whole numbers). */
function substitute(json: string, from: Scalar, to: Scalar): string {
  const tree = JSON.parse(json) as unknown;
  const walk = (v: unknown): unknown => {
    if (typeof v === 'string' && typeof from === 'string') return v.split(from).join(String(to));
    if (typeof v === 'number' && v === from) return to;
    if (Array.isArray(v)) return v.map(walk);
    if (isDoc(v)) return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, walk(x)]));
    return v;
  };
  return JSON.stringify(walk(tree));
}

/**
 * Decides each key's role by rendering: the values document `doc` is the chart's default.
 * A key is `template` only when replacing its token in the output gives exactly what the renderer
 * gives for two other values (and for the default), so a copy that is also sorted, parsed or
 * tested is caught and pinned.
 */
export function keyRoles(doc: Doc, version: string): KeyRole[] {
  const parsed = parseValues(stringify(doc), 'values') as unknown as Doc; // throws what is wrong
  const base = objectsFor(doc, NS_TOKEN, version)!;
  return schemaLeaves(VALUES_SCHEMA as Doc).map((path, i): KeyRole => {
    const current = valueAt(doc, parsed, path);
    const probes = probesFor(path, current, i)
      .map((probe) => ({ probe, out: objectsFor(setAt(doc, path, probe), NS_TOKEN, version) }))
      .filter((p): p is { probe: unknown; out: string } => p.out !== undefined);
    if (probes.length && probes.every((p) => p.out === base)) return { path, role: 'runtime' };
    const [first, ...others] = probes;
    const copyable = (typeof current === 'string' || typeof current === 'number') && first && others.length;
    if (
      copyable &&
      substitute(first.out, first.probe as Scalar, current as Scalar) === base &&
      others.every((p) => substitute(first.out, first.probe as Scalar, p.probe as Scalar) === p.out)
    )
      return { path, role: 'template' };
    return { path, role: 'pinned' };
  });
}

/** The namespace the generator renders with; the chart puts `.Release.Namespace` where it appears. */
const NS_TOKEN = 'nsq0x';

/** Go's encoding/json of a value (what Helm's `toJson` prints): sorted keys, HTML characters escaped. */
export function goJson(v: unknown): string {
  const sorted = (x: unknown): unknown =>
    Array.isArray(x)
      ? x.map(sorted)
      : isDoc(x)
        ? Object.fromEntries(
            Object.keys(x)
              .sort()
              .map((k) => [k, sorted(x[k])]),
          )
        : x;
  return JSON.stringify(sorted(v)).replace(
    /[<>&\u2028\u2029]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );
}

const quote = (s: string): string => JSON.stringify(s);
const pathList = (path: Path): string => `(list ${path.map(quote).join(' ')})`;

/** A template expression for a string the renderer produced with tokens in it. */
function stringExpression(text: string, tokens: Map<string, Templated | undefined>): string {
  const names = [...tokens.keys()].sort((a, b) => b.length - a.length);
  const parts: string[] = [];
  let rest = text;
  while (rest.length) {
    let at = -1;
    let hit = '';
    for (const name of names) {
      const i = rest.indexOf(name);
      if (i >= 0 && (at < 0 || i < at)) [at, hit] = [i, name];
    }
    if (at < 0) {
      parts.push(quote(rest));
      break;
    }
    if (at > 0) parts.push(quote(rest.slice(0, at)));
    parts.push(`(${expressionOf(tokens.get(hit))})`);
    rest = rest.slice(at + hit.length);
  }
  return parts.length === 1 ? `{{ ${parts[0]!.slice(1, -1)} | toJson }}` : `{{ print ${parts.join(' ')} | toJson }}`;
}

const HELPERS = `{{/* Generated by \`cutover chart\` from the renderer (ADR 0023): do not edit. */}}
{{/* A values key by path: its value (an image as {repository, tag} is repository:tag), or the default. */}}
{{- define "cutover.value" -}}
{{- $v := .root.Values -}}{{- $found := true -}}
{{- range .path -}}
{{- if and $found (kindIs "map" $v) (hasKey $v .) -}}{{- $v = index $v . -}}{{- else -}}{{- $found = false -}}{{- end -}}
{{- end -}}
{{- if not $found -}}{{ .default }}
{{- else if kindIs "float64" $v -}}{{ $v | int64 }}
{{- else if and (kindIs "map" $v) (hasKey $v "repository") -}}{{ $v.repository }}:{{ $v.tag | default .version }}
{{- else -}}{{ $v }}
{{- end -}}
{{- end -}}
{{/* A values key by path as Helm's JSON, or "absent". */}}
{{- define "cutover.json" -}}
{{- $v := .root.Values -}}{{- $found := true -}}
{{- range .path -}}
{{- if and $found (kindIs "map" $v) (hasKey $v .) -}}{{- $v = index $v . -}}{{- else -}}{{- $found = false -}}{{- end -}}
{{- end -}}
{{- if $found -}}{{ toJson $v }}{{- else -}}absent{{- end -}}
{{- end -}}
{{/* A key that shapes the install's objects: only the value this chart was generated for. */}}
{{- define "cutover.pinned" -}}
{{- $got := include "cutover.json" . -}}
{{- if not (has $got .expected) -}}
{{- fail (printf "values key %s is %s, but this chart was generated for %s: the key shapes the install's objects (RBAC, names, conditions). Generate a chart for your values with 'cutover chart -f values.yaml', or apply 'cutover render -f values.yaml'." .key $got (last .expected)) -}}
{{- end -}}
{{- end -}}
`;

export interface ChartFiles {
  [path: string]: string;
}

/**
 * The chart for a values file: `values.yaml` is the file itself (the chart's defaults), the templates
 * are the renderer's objects with the template keys as expressions and a guard per pinned key.
 */
export function generateChart(valuesText: string, version: string): { files: ChartFiles; roles: KeyRole[] } {
  const doc = (parseYaml(valuesText) ?? {}) as Doc;
  if (!isDoc(doc)) throw new CutoverError('invalid-values', 'the values file is not a mapping');
  if (CREATE_NAMESPACE in doc)
    throw new CutoverError('invalid-values', `${CREATE_NAMESPACE} is the chart's own key: leave it out of the values`);
  const roles = keyRoles(doc, version);
  const parsed = parseValues(valuesText, 'values') as unknown as Doc;

  // One render with every template key set to a token of its own; each token becomes its expression.
  // Keys are taken one by one: one whose token changes what another's does (two names sorted into one
  // rule) is pinned instead, so the whole chart provably equals the render.
  const expected = objectsFor(doc, NS_TOKEN, version);
  let accepted: Tokens = { doc, strings: new Map([[NS_TOKEN, undefined]]), numbers: new Map() };
  roles.forEach((r, i) => {
    if (r.role !== 'template') return;
    const current = valueAt(doc, parsed, r.path);
    // A token the parser or renderer refuses restores to nothing: the key is pinned.
    const candidate = withToken(accepted, r.path, current as Scalar, i);
    if (restored(candidate, version) === expected) accepted = candidate;
    else r.role = 'pinned';
  });
  const { strings: tokens, numbers } = accepted;
  const objects = render(parseValues(stringify(accepted.doc), 'values'), {
    namespace: NS_TOKEN,
    valuesText: '',
    version,
    namespaceObject: true,
  });

  const placeholders = new Map<string, string>();
  const mark = (expression: string) => {
    const key = `cutoverplaceholder${placeholders.size}z`;
    placeholders.set(key, expression);
    return key;
  };
  const templated = (v: unknown, keyPath: string): unknown => {
    if (typeof v === 'string' && [...tokens.keys()].some((t) => v.includes(t)))
      return mark(stringExpression(v, tokens));
    if (typeof v === 'number' && numbers.has(v)) return mark(`{{ ${expressionOf(numbers.get(v))} }}`);
    if (Array.isArray(v)) return v.map((x, i) => templated(x, `${keyPath}[${i}]`));
    if (isDoc(v))
      return Object.fromEntries(
        Object.entries(v).map(([k, x]) => {
          if ([...tokens.keys()].some((t) => k.includes(t)))
            throw new CutoverError('chart', `a values key reaches the object key ${keyPath}.${k}`);
          return [k, templated(x, `${keyPath}.${k}`)];
        }),
      );
    return v;
  };
  const documents = objects.map((o) => {
    const isNamespace = o.kind === 'Namespace' && o.metadata?.name === NS_TOKEN;
    const body =
      o.metadata?.name === VALUES_CONFIGMAP
        ? {
            ...o,
            data: {
              'values.yaml': mark(`{{ toYaml (omit .Values ${quote(CREATE_NAMESPACE)}) | toJson }}`),
            },
          }
        : o;
    let text = stringify(templated(body, o.kind ?? ''), { lineWidth: 0 });
    for (const [key, expression] of placeholders) text = text.split(key).join(expression);
    return isNamespace ? `{{- if .Values.${CREATE_NAMESPACE} }}\n---\n${text}{{- end }}\n` : `---\n${text}`;
  });

  const guards = roles
    .filter((r) => r.role === 'pinned')
    .map(({ path }) => {
      // Left out of the values means the parser's default: saying that default is the same.
      const own = getAt(doc, path);
      const fallback = getAt(parsed, path);
      const expected = own.found
        ? [goJson(own.value)]
        : ['absent', ...(fallback.value === undefined ? [] : [goJson(fallback.value)])];
      return `{{- include "cutover.pinned" (dict "root" $ "path" ${pathList(path)} "key" ${quote(path.join('.'))} "expected" (list ${expected.map(quote).join(' ')})) }}`;
    });
  const files: ChartFiles = {
    'Chart.yaml': stringify({
      apiVersion: 'v2',
      name: CHART_NAME,
      description:
        'Self-sovereignty cutover: installs dormant; pivots every upstream reference of the Sovereign to its own Gitea and Harbor, proven with upstream egress blocked.',
      type: 'application',
      version,
      appVersion: version,
      annotations: {
        'catalyst.openova.io/blueprint': CHART_NAME,
        'catalyst.openova.io/no-upstream': 'true',
        'catalyst.openova.io/generated-by': 'cutover chart (ADR 0023)',
      },
    }),
    'values.yaml': `${valuesText.trimEnd()}\n\n# The chart's own key: false leaves the release namespace to Helm (--create-namespace) or Flux.\n${CREATE_NAMESPACE}: true\n`,
    '.helmignore': '*.tgz\n',
    'templates/_helpers.tpl': `${HELPERS}{{/* The keys the renderer copies into the objects, with the chart's defaults. */}}\n${[
      ...accepted.strings.values(),
      ...accepted.numbers.values(),
    ]
      .filter((k): k is Templated => k !== undefined)
      .map(
        (k) =>
          `{{- define ${quote(defineOf(k.path))} -}}{{ include "cutover.value" (dict "root" . "path" ${pathList(k.path)} "default" ${quote(String(k.fallback))} "version" ${quote(version)}) }}{{- end -}}\n`,
      )
      .join('')}`,
    'templates/pinned.yaml': `{{/* Generated by \`cutover chart\`: the keys that shape the objects (ADR 0023). */}}\n${guards.join('\n')}\n`,
    'templates/install.yaml': `{{/* Generated by \`cutover chart\` from the renderer (ADR 0023): do not edit. */}}\n${documents.join('')}`,
    'templates/blueprint.yaml': `{{/* The catalogue's Blueprint, only where its CRD is served. */}}\n{{- if .Capabilities.APIVersions.Has ${quote(BLUEPRINT_API)} }}\n---\n${stringify(blueprint(version), { lineWidth: 0 })}{{- end }}\n`,
  };
  return { files, roles };
}

/** A templated key: the value the chart's default has, and where it is in `.Values`. */
interface Templated {
  path: Path;
  fallback: Scalar;
}

interface Tokens {
  doc: Doc;
  /** token → the key it stands for (undefined: the release namespace) */
  strings: Map<string, Templated | undefined>;
  numbers: Map<number, Templated>;
}

/** The named template a templated key prints as. */
const defineOf = (path: Path): string => `cutover.values.${path.join('.')}`;
const expressionOf = (t: Templated | undefined): string =>
  t ? `include ${quote(defineOf(t.path))} $` : '$.Release.Namespace';

/** `t` with one more key set to a token of its own. */
function withToken(t: Tokens, path: Path, current: Scalar, i: number): Tokens {
  const key: Templated = { path, fallback: current };
  const next: Tokens = { doc: t.doc, strings: new Map(t.strings), numbers: new Map(t.numbers) };
  if (typeof current === 'number') {
    const token = 30_000 + i;
    next.numbers.set(token, key);
    next.doc = setAt(t.doc, path, token);
  } else {
    const token = `${current}t${i}k`;
    next.strings.set(token, key);
    next.doc = setAt(t.doc, path, token);
  }
  return next;
}

/** The objects rendered with the tokens, each token put back to its default: must be the plain render. */
function restored(t: Tokens, version: string): string | undefined {
  let out = objectsFor(t.doc, NS_TOKEN, version);
  if (out === undefined) return undefined;
  for (const [token, key] of t.strings) if (key) out = substitute(out, token, key.fallback);
  for (const [token, key] of t.numbers) out = substitute(out, token, key.fallback);
  return out;
}
