// The inventory's pure matching: which hosts are upstream, which URLs in text name one, where the
// host table sends them, which tethers are exempt, which chart version a HelmChart pulls, and how a
// source that could not be read is reported.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Tether } from '../../src/core/tether.ts';
import { parseValues } from '../../src/core/values.ts';
import { exemptionOf, globMatches } from '../../src/inventory/exemptions.ts';
import { chartVersion, ociArtifactURL } from '../../src/inventory/sources/flux.ts';
import { readFailure } from '../../src/inventory/sources/source.ts';
import { localTarget, upstreamHosts, upstreamURLs, urlTether } from '../../src/inventory/upstream-hosts.ts';

const values = parseValues(`
sovereign:
  harborInternalURL: http://harbor.internal:8080
  harborPublicURL: https://harbor.example.org
  giteaInternalURL: http://gitea.internal:3000/
upstream: { repoURL: 'https://github.com/openova-io/platform.git', mothershipHarborURL: 'https://harbor.mothership.io' }
helmRepositories: { upstreamPrefix: 'oci://charts.openova.io/openova-io' }
egressTest: { blockedDomains: [evil.example, harbor.example.org] }
harbor:
  proxyProjects:
    - { name: ghcr, upstreamURL: 'https://ghcr.io', registryType: github-ghcr }
`);
const hosts = upstreamHosts(values);

test('upstream hosts: the host table, the Git and Harbor upstreams, the prefix and blocked domains; never a local one', () => {
  assert.deepEqual([...hosts.upstream].sort(), [
    'charts.openova.io',
    'evil.example',
    'ghcr.io',
    'github.com',
    'harbor.mothership.io',
  ]);
  assert.deepEqual([...hosts.local].sort(), ['gitea.internal:3000', 'harbor.example.org', 'harbor.internal:8080']);
  assert.equal(hosts.harbor, 'harbor.example.org');
  assert.equal(hosts.mirrorURL, 'http://gitea.internal:3000/openova/openova');
});

test('URLs in free text: only those whose host is upstream, credentials and all', () => {
  const text = [
    'REPO=https://github.com/openova-io/platform.git',
    "chart: 'oci://charts.openova.io/openova-io/catalyst'",
    'mirror="ssh://git:token@github.com/x" local=https://harbor.example.org/v2/ other=https://example.com/a',
    'no scheme: ghcr.io/openova-io/api:1.0',
  ].join('\n');
  assert.deepEqual(upstreamURLs(text, hosts), [
    'https://github.com/openova-io/platform.git',
    'oci://charts.openova.io/openova-io/catalyst',
    'ssh://git:token@github.com/x',
  ]);
  assert.deepEqual(upstreamURLs('', hosts), []);
});

test('local target: the upstream repository to its Gitea mirror, a mapped host to its Harbor project', () => {
  assert.equal(localTarget('https://github.com/openova-io/platform', hosts), hosts.mirrorURL);
  assert.equal(localTarget('https://bot:secret@github.com/openova-io/platform.git', hosts), hosts.mirrorURL);
  assert.equal(
    localTarget('oci://ghcr.io/openova-io/charts', hosts),
    'oci://harbor.example.org/ghcr/openova-io/charts',
  );
  assert.equal(localTarget('https://ghcr.io', hosts), 'oci://harbor.example.org/ghcr');
  assert.equal(localTarget('https://github.com/other/repo', hosts), '');
  assert.equal(localTarget('oci://charts.openova.io/openova-io', hosts), '');
});

test('a URL tether shows no credentials, and an exempt one says why', () => {
  assert.deepEqual(urlTether(hosts, 'env', 'Pod a/b', 'spec.containers[0].env[0].value', 'oci://u:p@ghcr.io/x'), {
    kind: 'env',
    object: 'Pod a/b',
    field: 'spec.containers[0].env[0].value',
    upstream: 'oci://***@ghcr.io/x',
    local: 'oci://harbor.example.org/ghcr/x',
    state: 'tethered',
  });
  const own = urlTether(hosts, 'configmap', 'ConfigMap c/d', 'data["x"]', 'https://evil.example/', 'ours');
  assert.equal(own.state, 'exempt');
  assert.equal(own.reason, 'ours');
  assert.equal(own.local, '');
});

test('glob: `*` is any run of characters, everything else is literal, the whole text must match', () => {
  assert.ok(globMatches('Deployment catalyst/*', 'Deployment catalyst/api'));
  assert.ok(globMatches('*', ''));
  assert.ok(globMatches('ghcr.io/*:1.0', 'ghcr.io/a/b:1.0'));
  assert.ok(!globMatches('ghcr.io/*', 'xghcr.io/a'));
  assert.ok(!globMatches('a.b', 'axb'));
  assert.ok(!globMatches('Pod a/(b)', 'Pod a/b'));
});

const tether = (fields: Partial<Tether>): Tether => ({
  kind: 'image',
  object: 'ReplicaSet ns/api-1',
  field: 'spec.template.spec.containers[0].image',
  upstream: 'ghcr.io/openova-io/api:1.0',
  local: '',
  state: 'tethered',
  ...fields,
});

test('exemption: rollout history first (unless pivoted), then the first explicit rule that matches in every given field', () => {
  const history = new Map([['ReplicaSet ns/api-1', 'Deployment ns/api']]);
  const rules = [
    { kind: 'env' as const, reason: 'env only' },
    { object: 'ReplicaSet ns/*', upstream: 'docker.io/*', reason: 'both fields' },
    { upstream: 'ghcr.io/*', reason: 'ghcr' },
    { reason: 'everything' },
  ];
  assert.equal(
    exemptionOf(tether({}), history, rules),
    'rollout history of Deployment ns/api (0 replicas; its live template is listed itself)',
  );
  assert.equal(exemptionOf(tether({ state: 'pivoted' }), history, rules), 'ghcr');
  assert.equal(exemptionOf(tether({ upstream: 'docker.io/library/nginx:latest' }), new Map(), rules), 'both fields');
  assert.equal(exemptionOf(tether({ kind: 'env' }), new Map(), rules), 'env only');
  assert.equal(exemptionOf(tether({ upstream: 'quay.io/x:1' }), new Map(), rules), 'everything');
  assert.equal(exemptionOf(tether({}), new Map(), []), undefined);
});

const chart = (version: string | undefined, status?: { observedGeneration?: number; revision?: string }) => ({
  metadata: { namespace: 'flux-system', name: 'c', generation: 3 },
  spec: { chart: 'catalyst', ...(version === undefined ? {} : { version }) },
  ...(status
    ? {
        status: {
          ...(status.observedGeneration === undefined ? {} : { observedGeneration: status.observedGeneration }),
          ...(status.revision === undefined ? {} : { artifact: { revision: status.revision } }),
        },
      }
    : {}),
});

test('chart version: an exact spec.version as given; a range as Flux resolved it, from a current status only', () => {
  assert.equal(chartVersion(chart('1.2.3')), '1.2.3');
  assert.equal(chartVersion(chart('v1.2.3-rc.1+build.5')), 'v1.2.3-rc.1+build.5');
  assert.equal(chartVersion(chart('>=1.0.0', { observedGeneration: 3, revision: '1.4.0@sha256:abc' })), '1.4.0');
  assert.equal(chartVersion(chart(undefined, { observedGeneration: 3, revision: '2.0.0' })), '2.0.0');
  assert.equal(chartVersion(chart('1.x', { observedGeneration: 2, revision: '1.4.0' })), undefined);
  assert.equal(chartVersion(chart('1.x', { observedGeneration: 3 })), undefined);
  assert.equal(chartVersion(chart('1.x')), undefined);
});

test('a source that could not be read: the HTTP status when the API answered, else the message', () => {
  assert.equal(readFailure('Secrets', Object.assign(new Error('Forbidden'), { code: 403 })), 'Secrets: HTTP 403');
  assert.equal(readFailure('ConfigMaps', new Error('connect ECONNREFUSED')), 'ConfigMaps: connect ECONNREFUSED');
  assert.equal(readFailure('HelmChart a/b', 'version "1.x" is a range'), 'HelmChart a/b: version "1.x" is a range');
});

test('the artifact an OCIRepository pulls: digest, tag, Flux-resolved semver, latest', () => {
  const o = (ref: Record<string, string>, status?: { revision: string; observed: number }) => ({
    metadata: { namespace: 'flux-system', name: 'o', generation: 2 },
    spec: { url: 'oci://ghcr.io/org/app/', ref },
    ...(status ? { status: { observedGeneration: status.observed, artifact: { revision: status.revision } } } : {}),
  });
  const digest = `sha256:${'b'.repeat(64)}`;
  assert.equal(ociArtifactURL(o({ tag: '1.0', digest })), `oci://ghcr.io/org/app@${digest}`);
  assert.equal(ociArtifactURL(o({ tag: '1.0' })), 'oci://ghcr.io/org/app:1.0');
  assert.equal(ociArtifactURL(o({})), 'oci://ghcr.io/org/app:latest');
  assert.equal(
    ociArtifactURL(o({ semver: '1.x' }, { revision: `1.4.2@${digest}`, observed: 2 })),
    'oci://ghcr.io/org/app:1.4.2',
  );
  assert.equal(
    ociArtifactURL(o({ semver: '1.x' }, { revision: `1.4.2@${digest}`, observed: 1 })),
    undefined,
    'a stale status resolves nothing',
  );
});
