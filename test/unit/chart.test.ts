// The chart is generated from the renderer (ADR 0023): the committed one is exactly what
// `npm run chart` writes, and the generator sorts values keys the way the renderer uses them.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { parse } from 'yaml';
import { generateChart, goJson, keyRoles } from '../../src/render/chart.ts';
import { VALUES_EXAMPLE } from '../../src/cli/values-example.ts';
import { VERSION } from '../../src/core/version.ts';

const CHART = join(import.meta.dirname, '../../charts/bp-self-sovereign-cutover');

test('the committed chart is what the generator writes for the example values (run `npm run chart` after a render change)', () => {
  const { files } = generateChart(VALUES_EXAMPLE, VERSION);
  for (const [path, content] of Object.entries(files))
    assert.equal(readFileSync(join(CHART, path), 'utf8'), content, `${path} is stale: run npm run chart`);
  assert.equal(parse(files['Chart.yaml']!).version, VERSION, 'the chart version is the package version');
});

test('a key that never reaches the objects is a runtime value, a copied one is templated, one that shapes RBAC is pinned', () => {
  const roles = new Map(keyRoles(parse(VALUES_EXAMPLE), VERSION).map((r) => [r.path.join('.'), r.role]));
  assert.equal(roles.get('prewarm.images'), 'runtime');
  assert.equal(roles.get('egressTest.blockedDomains'), 'runtime');
  assert.equal(roles.get('trigger.auto'), 'runtime');
  assert.equal(roles.get('images.cutover'), 'template');
  assert.equal(roles.get('sovereign.fqdn'), 'template');
  assert.equal(roles.get('api.port'), 'template');
  assert.equal(roles.get('helmRepositories.namespace'), 'pinned', 'a namespace the runner gets a Role in');
  assert.equal(roles.get('flux.namespaces'), 'pinned');
  assert.equal(roles.get('harbor.hostProjects'), 'pinned', 'the node agent carries the host table');
});

test("a pinned key's expected value is Helm's JSON of it (toJson: sorted keys, HTML characters escaped)", () => {
  assert.equal(goJson({ b: 1, a: ['<x>&'] }), '{"a":["\\u003cx\\u003e\\u0026"],"b":1}');
});

test('the chart refuses its own key in a values file, and a values file that does not parse', () => {
  assert.throws(() => generateChart('createNamespace: false\n', VERSION), /chart's own key/);
  assert.throws(() => generateChart('sovereign: {fqdn: 3}\n', VERSION), /invalid/);
});
