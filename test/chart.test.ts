// The Helm chart (ADR 0023) with the real helm (v3.19, built from its module): lint, and `helm
// template` equals `cutover render` for the same values: the chart's defaults, a values file over
// them (Helm's merge), the original's values through a chart generated for them; a key that shapes
// the objects is refused with a way out. Every render is validated by kubeconform, strictly, against
// the lab apiserver's own schemas (built-in kinds and the CRDs it serves).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { parseAllDocuments, parse as parseYaml, stringify } from 'yaml';
import { REPO_ROOT } from '../lab/topology.ts';
import { VALUES_CONFIGMAP } from '../src/core/contracts.ts';
import { parseValues } from '../src/core/values.ts';
import { runHelm } from '../lab/peers/helm.ts';
import { helmMerge, kubeconform } from './support/chart.ts';
import { labValuesFile } from './support/api.ts';

const CHART = join(REPO_ROOT, 'charts/bp-self-sovereign-cutover');
const ORIGINAL = join(REPO_ROOT, 'test/fixtures/openova-0.1.14-values.yaml');
const home = mkdtempSync(join(tmpdir(), 'helm-home-'));
const file = (name: string, content: string) => {
  const path = join(home, name);
  writeFileSync(path, content);
  return path;
};

type Doc = { kind?: string; metadata?: { name?: string }; data?: Record<string, unknown> };

function cli(...args: string[]): string {
  const r = spawnSync(process.execPath, [join(REPO_ROOT, 'src/cli/main.ts'), ...args], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return r.stdout;
}

function helm(...args: string[]): string {
  const r = runHelm(home, args);
  assert.equal(r.status, 0, r.stderr);
  return r.stdout;
}

type Named = Doc & { metadata?: { namespace?: string } };
const identity = (d: Named) => `${d.kind}/${d.metadata?.namespace ?? ''}/${d.metadata?.name}`;

/**
 * The objects in one order (Helm prints them in its install order), with the values ConfigMap's text
 * read as the values it means (Helm writes its merge as YAML).
 */
function objects(yaml: string): Doc[] {
  return parseAllDocuments(yaml)
    .map((d) => d.toJS() as Doc | null)
    .filter((d): d is Doc => Boolean(d))
    .map((d) =>
      d.kind === 'ConfigMap' && d.metadata?.name === VALUES_CONFIGMAP
        ? { ...d, data: { 'values.yaml': parseValues(String(d.data!['values.yaml'])) } }
        : d,
    )
    .sort((a, b) => identity(a).localeCompare(identity(b)));
}

test('helm lint passes on the chart', () => {
  assert.match(helm('lint', '--strict', CHART), /1 chart\(s\) linted, 0 chart\(s\) failed/);
});

test('helm template equals cutover render for the chart defaults, without the Namespace (--no-namespace), and with the Blueprint only where its CRD is served', () => {
  const defaults = file(
    'defaults.yaml',
    readFileSync(join(CHART, 'values.yaml'), 'utf8').replace(/^createNamespace:.*$/m, ''),
  );
  const template = (...flags: string[]) =>
    objects(helm('template', 'self-sovereign-cutover', CHART, '-n', 'catalyst', ...flags));
  const render = (...flags: string[]) => objects(cli('render', '-f', defaults, '-n', 'catalyst', ...flags));
  assert.deepEqual(template(), render());
  assert.deepEqual(template('--set', 'createNamespace=false'), render('--no-namespace'));
  assert.ok(!render('--no-namespace').some((o) => o.kind === 'Namespace' && o.metadata?.name === 'catalyst'));
  // -n still names the namespace with --no-namespace (commander's negation of --namespace).
  const elsewhere = objects(cli('render', '-f', defaults, '-n', 'elsewhere', '--no-namespace')) as Array<
    Doc & { metadata?: { namespace?: string } }
  >;
  const namespaces = new Set(elsewhere.map((o) => o.metadata?.namespace));
  assert.ok(namespaces.has('elsewhere') && namespaces.has('elsewhere-agent') && !namespaces.has('catalyst'));
  assert.deepEqual(
    elsewhere.filter((o) => o.kind === 'Namespace').map((o) => o.metadata?.name),
    ['elsewhere-agent'],
  );
  assert.deepEqual(template('--api-versions', 'catalyst.openova.io/v1alpha1/Blueprint'), render('--blueprint'));
  assert.ok(!template().some((o) => o.kind === 'Blueprint'), 'no Blueprint without its CRD');
});

test("helm template with a values file over the chart's defaults equals cutover render of the merged values (the original's image shape included)", () => {
  const overrides = {
    sovereign: { fqdn: 'sov.example.org' },
    images: { cutover: { repository: 'registry.example.org/platform/cutover', tag: '9.9.9' } },
    api: { port: 9443 },
    status: { configMapName: 'cutover-status-x' },
    gitea: { adminSecretRef: { name: 'gitea-root' } },
    catalystAPI: { namespace: 'catalyst-apps' },
    prewarm: { images: ['docker.io/library/busybox:1.36'] },
    trigger: { auto: true, autoDelaySeconds: 5 },
  };
  const values = file('overrides.yaml', stringify(overrides));
  const chartDefaults = parseYaml(readFileSync(join(CHART, 'values.yaml'), 'utf8')) as Record<string, unknown>;
  delete chartDefaults.createNamespace;
  const merged = file('merged.yaml', stringify(helmMerge(chartDefaults, overrides)));
  const helmed = objects(helm('template', 'self-sovereign-cutover', CHART, '-n', 'sovereign-x', '-f', values));
  assert.deepEqual(helmed, objects(cli('render', '-f', merged, '-n', 'sovereign-x')));
  assert.match(JSON.stringify(helmed), /registry\.example\.org\/platform\/cutover:9\.9\.9/);
});

test('a key that shapes the objects is refused by the chart with a way out; a chart generated for the original values equals their render', () => {
  const r = runHelm(home, ['template', 'x', CHART, '-n', 'catalyst', '--set', 'helmRepositories.namespace=apps']);
  assert.notEqual(r.status, 0);
  assert.match(
    r.stderr,
    /values key helmRepositories\.namespace is "apps", but this chart was generated for "flux-system"/,
  );
  assert.match(r.stderr, /cutover chart -f values\.yaml/);
  // Said as the parser's default, a key the chart's values leave out is the same install.
  assert.deepEqual(
    objects(
      helm('template', 'self-sovereign-cutover', CHART, '-n', 'catalyst', '--set-string', 'global.imageRegistry='),
    ),
    objects(helm('template', 'self-sovereign-cutover', CHART, '-n', 'catalyst')),
  );
  // The original's values through the default chart: its proxy projects shape the node agent's host table.
  const throughDefault = runHelm(home, ['template', 'x', CHART, '-n', 'catalyst', '-f', ORIGINAL]);
  assert.notEqual(throughDefault.status, 0);
  assert.match(throughDefault.stderr, /values key harbor\.proxyProjects is \[/);

  const chart = join(home, 'original-chart');
  cli('chart', '-f', ORIGINAL, '--out', chart);
  assert.match(helm('lint', chart), /0 chart\(s\) failed/);
  const original = file('original.yaml', readFileSync(ORIGINAL, 'utf8'));
  assert.deepEqual(
    objects(helm('template', 'self-sovereign-cutover', chart, '-n', 'catalyst')),
    objects(cli('render', '-f', original, '-n', 'catalyst')),
  );
});

test('kubeconform (strict, the lab apiserver’s schemas) accepts every render: the defaults, the original values, the lab install with its Blueprint; and it is not vacuous', async () => {
  const renders = {
    defaults: cli('render', '-f', file('example.yaml', cli('values', '--example')), '-n', 'catalyst'),
    original: cli('render', '-f', ORIGINAL, '-n', 'catalyst'),
    lab: cli('render', '-f', labValuesFile({}), '-n', 'catalyst', '--blueprint'),
  };
  for (const [name, yaml] of Object.entries(renders)) {
    const report = await kubeconform(yaml);
    assert.equal(report.status, 0, `${name}: ${report.out}`);
    const { summary } = JSON.parse(report.out) as { summary: { valid: number; invalid: number; skipped: number } };
    assert.ok(summary.valid >= 50 && !summary.invalid && !summary.skipped, `${name}: ${report.out}`);
  }
  // A field misspelt in the controller Deployment's pod template.
  const typo = parseAllDocuments(renders.lab)
    .map((d) => d.toJS() as Doc & { spec?: { template?: { spec: Record<string, unknown> } } })
    .map((d) => {
      const pod = d.kind === 'Deployment' ? d.spec?.template?.spec : undefined;
      if (pod) [pod.serviceAcountName, pod.serviceAccountName] = [pod.serviceAccountName, undefined];
      return `---\n${stringify(d)}`;
    })
    .join('');
  const refused = await kubeconform(typo);
  assert.notEqual(refused.status, 0, 'a misspelt field is refused');
  assert.match(refused.out, /additional properties 'serviceAcountName' not allowed/);
});
