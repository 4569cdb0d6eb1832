// Every container the install renders reports its own error when it fails: the engine reads a
// failed step's words from the terminated container (FallbackToLogsOnError; the CLI writes no
// /dev/termination-log, so the default policy would leave the message empty).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parse } from 'yaml';
import { parseValues } from '../../src/core/values.ts';
import { render } from '../../src/render/render.ts';

const values = parseValues(`
sovereign: { harborInternalURL: http://h, harborPublicURL: http://h, giteaInternalURL: http://g }
upstream: { repoURL: https://github.com/o/r }
`);

type Container = { name: string; terminationMessagePolicy?: string };
type PodSpec = { containers: Container[] };

test('every rendered container (API, controller, node agent, each job-mode step) falls back to its logs for the termination message', () => {
  const specs: Array<[string, PodSpec]> = [];
  for (const o of render(values, { namespace: 'catalyst', valuesText: '', version: '0.1.0' }) as Array<
    Record<string, any>
  >) {
    if (o.spec?.template?.spec) specs.push([`${o.kind} ${o.metadata.name}`, o.spec.template.spec]);
    if (o.data?.podSpec) specs.push([`ConfigMap ${o.metadata.name}`, parse(o.data.podSpec)]);
  }
  assert.equal(
    specs.length,
    10,
    'the API, the controller, the agent and the seven job-mode steps (04 is the agent DaemonSet)',
  );
  for (const [owner, spec] of specs)
    for (const c of spec.containers)
      assert.equal(c.terminationMessagePolicy, 'FallbackToLogsOnError', `${owner} container ${c.name}`);
});
