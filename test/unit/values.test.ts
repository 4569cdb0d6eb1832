// Values: the seed chart's keys through one schema — defaults filled in, the host table derived,
// every bad key named, nothing half-parsed.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CutoverError } from '../../src/core/errors.ts';
import { imageHostOf, parseValues, parseValuesWithWarnings } from '../../src/core/values.ts';
import { readFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { Ajv } from 'ajv';
import { parse as parseYaml } from 'yaml';
import { render } from '../../src/render/render.ts';

const MINIMAL = `
sovereign:
  harborInternalURL: http://harbor.harbor.svc
  harborPublicURL: https://harbor.sovereign.example
  giteaInternalURL: http://gitea-http.gitea.svc:3000
upstream:
  repoURL: https://github.com/openova-io/openova
harbor:
  proxyProjects:
    - { name: proxy-ghcr, upstreamURL: https://ghcr.io, authMode: credential }
    - { name: proxy-dockerhub, upstreamURL: https://registry-1.docker.io }
egressTest:
  blockedDomains: [github.com, ghcr.io]
`;

const refusal = (text: string): string => {
  try {
    parseValues(text, 'values.yaml');
  } catch (error) {
    assert.ok(error instanceof CutoverError);
    assert.equal(error.code, 'invalid-values');
    return error.message;
  }
  assert.fail('the values were accepted');
};

test('minimal values get the seed defaults', () => {
  const v = parseValues(MINIMAL);
  assert.equal(v.upstream.branch, 'main');
  assert.equal(v.upstream.mirrorInterval, '10m0s');
  assert.equal(v.status.configMapName, 'self-sovereign-cutover-status');
  assert.equal(v.harbor.defaultMode, 'mirror');
  assert.equal(v.stepTimeouts.harborPrewarmSeconds, 1800);
  assert.equal(v.stepTimeouts.harborProjectsSeconds, 600);
  assert.deepEqual(v.egressTest.callHomeURLs, ['https://github.com/', 'https://ghcr.io/']);
  assert.equal(v.trigger.auto, false);
});

test('the host table: one row per proxy project, Docker Hub named docker.io, in the default mode', () => {
  const rows = parseValues(MINIMAL).harbor.hostProjects;
  assert.deepEqual(
    rows.map((r) => [r.host, r.project, r.mode, r.authMode]),
    [
      ['ghcr.io', 'proxy-ghcr', 'mirror', 'credential'],
      ['docker.io', 'proxy-dockerhub', 'mirror', 'anonymous'],
    ],
  );
  assert.equal(imageHostOf('https://index.docker.io'), 'docker.io');
  assert.equal(imageHostOf('http://127.0.0.1:15001'), '127.0.0.1:15001');
});

test('an explicit hostProjects row wins over the proxy project for the same host', () => {
  const v = parseValues(
    MINIMAL.replace(
      'egressTest:',
      '  hostProjects:\n    - { host: ghcr.io, project: ghcr-mirror, mode: proxy, upstreamURL: https://ghcr.io }\negressTest:',
    ),
  );
  assert.deepEqual(
    v.harbor.hostProjects.map((r) => [r.host, r.project, r.mode]),
    [
      ['ghcr.io', 'ghcr-mirror', 'proxy'],
      ['docker.io', 'proxy-dockerhub', 'mirror'],
    ],
  );
});

test('every bad key is named, with what is wrong with it', () => {
  const message = refusal(
    `${MINIMAL}surprise: 1\nstepTimeouts: { giteaMirrorSeconds: 5 }\ntrigger: { internalServiceAccounts: [bob] }\n`.replace(
      'repoURL: https://github.com/openova-io/openova',
      'repoURL: github.com/openova-io/openova',
    ),
  );
  assert.match(message, /^values\.yaml is invalid:/);
  assert.match(message, /surprise is not a known key/);
  assert.match(message, /upstream\.repoURL must be a URL/);
  assert.match(message, /stepTimeouts\.giteaMirrorSeconds must be >= 30/);
  assert.match(message, /trigger\.internalServiceAccounts\[0\]/);
});

test('required keys, invalid YAML and a host mapped twice are refused', () => {
  assert.match(refusal('upstream: { repoURL: https://x.example/r }'), /sovereign\.harborInternalURL is required/);
  assert.match(refusal('sovereign: [unclosed'), /not valid YAML/);
  assert.match(
    refusal(
      MINIMAL.replace(
        'egressTest:',
        '  hostProjects:\n    - { host: quay.io, project: a, upstreamURL: https://quay.io }\n    - { host: quay.io, project: b, upstreamURL: https://quay.io }\negressTest:',
      ),
    ),
    /maps host quay\.io twice/,
  );
});

test("the node agent's host paths are a containerd certs.d and a k3s/RKE2 config directory, nothing wider", () => {
  const base = `sovereign: { harborInternalURL: 'http://h', harborPublicURL: 'http://h', giteaInternalURL: 'http://g' }
upstream: { repoURL: 'https://github.com/o/r' }
`;
  for (const ok of [
    { certsDir: '/var/lib/rancher/k3s/agent/etc/containerd/certs.d', k3sConfigDir: '/etc/rancher/rke2' },
    { certsDir: '/etc/containerd/certs.d', k3sConfigDir: '/etc/rancher/k3s' },
  ])
    assert.doesNotThrow(() => parseValues(`${base}registryPivot: ${JSON.stringify(ok)}\n`));
  for (const bad of [{ certsDir: '/' }, { certsDir: '/etc' }, { certsDir: '/etc/../certs.d' }, { k3sConfigDir: '/' }])
    assert.throws(
      () => parseValues(`${base}registryPivot: ${JSON.stringify(bad)}\n`),
      /registryPivot\.(certsDir|k3sConfigDir)/,
    );
});

test("the original chart's values file works unchanged: meaningless keys ignored with a warning each, the rest read in our shape", () => {
  const text = readFileSync(new URL('../fixtures/openova-0.1.14-values.yaml', import.meta.url), 'utf8');
  const { values, warnings } = parseValuesWithWarnings(text, 'original');
  assert.deepEqual(
    warnings.map((w) => /^original: (\S+) means nothing here \(.+\): ignored$/.exec(w)?.[1]),
    [
      'trigger.catalystAPIURL',
      'trigger.autoWaitForAPISeconds',
      'trigger.fireCutoverOnHandover',
      'images.kubectl',
      'images.git',
      'images.curl',
      'images.hostExec',
    ],
  );
  // The proxy table (seven hosts) became the host table; the empty blockedDomains became every upstream host.
  assert.equal(values.harbor.hostProjects.length, 7);
  assert.deepEqual(values.egressTest.blockedDomains.slice(-2), ['github.com', 'harbor.openova.io']);
  assert.ok(values.egressTest.blockedDomains.includes('ghcr.io') && values.egressTest.callHomeURLs.length > 0);
  assert.deepEqual(values.harbor.mothershipAuthsToStrip, ['harbor.openova.io']);
  assert.equal(values.auth.signIn, false, 'no identity provider in the original: serve runs without sign-in');
  assert.match(values.images.cutover, /^ghcr\.io\/openova-io\/sovereign-cutover:\d+\.\d+\.\d+$/);
  // …and it renders.
  const objects = render(values, { namespace: 'catalyst', valuesText: text, version: '0.1.0' });
  assert.ok(objects.some((o) => o.kind === 'Deployment'));
});

test('an original setting this cutover cannot honour is refused, naming why; a typo is still an unknown key', () => {
  assert.throws(
    () => parseValues(`${MINIMAL}registryPivot: { enabled: false }\n`),
    /registryPivot\.enabled: false cannot be honoured: a node that still pulls from upstream fails the egress proof/,
  );
  assert.equal(
    parseValues(`${MINIMAL}registryPivot: { enabled: true }\n`).registryPivot.certsDir,
    '/etc/containerd/certs.d',
  );
  assert.throws(
    () => parseValues(`${MINIMAL}guard: { periodSecondz: 1 }\n`),
    /guard\.periodSecondz is not a known key/,
  );
  assert.equal(
    parseValues(`${MINIMAL}images: { cutover: { repository: reg.example/cutover, tag: "1.2.3" } }\n`).images.cutover,
    'reg.example/cutover:1.2.3',
  );
});

test('cutover values --example parses without a warning and validates against cutover values --schema', () => {
  const cli = new URL('../../src/cli/main.ts', import.meta.url).pathname;
  const example = spawnSync(process.execPath, [cli, 'values', '--example'], { encoding: 'utf8' });
  const schema = spawnSync(process.execPath, [cli, 'values', '--schema'], { encoding: 'utf8' });
  assert.equal(example.status, 0, example.stderr);
  assert.equal(schema.status, 0, schema.stderr);
  assert.deepEqual(parseValuesWithWarnings(example.stdout, 'example').warnings, []);
  const validate = new Ajv({ strict: false, useDefaults: true }).compile(JSON.parse(schema.stdout) as object);
  assert.ok(validate(parseYaml(example.stdout)), JSON.stringify(validate.errors));
  assert.ok(!validate({ sovereign: {} }), 'the schema requires what the parser requires');
  assert.equal(spawnSync(process.execPath, [cli, 'values'], { encoding: 'utf8' }).status, 2);
});
