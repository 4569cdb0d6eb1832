// The runner's RBAC, derived from values: Secrets by name, create never beside resourceNames, no
// verb granted twice.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseValues } from '../../src/core/values.ts';
import { apiGrants, runnerGrants, withoutRedundancy, type Grant } from '../../src/render/rbac.ts';

const values = parseValues(`
sovereign: { harborInternalURL: http://h, harborPublicURL: http://h, giteaInternalURL: http://g }
upstream: { repoURL: https://github.com/o/r }
gitea: { adminSecretRef: { name: gitea-admin, namespace: gitea } }
harbor: { adminSecretRef: { name: harbor-admin, namespace: harbor }, ghcrSecretRef: { name: ghcr-pull, namespace: flux-system } }
catalystAPI: { deploymentName: api, namespace: apps }
`);
const grants = runnerGrants(values, 'catalyst');

test('Secrets are read by name, in the namespace each reference names', () => {
  const reads = grants.filter((g) => g.resource === 'secrets' && g.verbs.includes('get') && g.resourceNames);
  assert.deepEqual(
    reads.map((g) => [g.namespace, g.resourceNames]),
    [
      ['gitea', ['gitea-admin']],
      ['harbor', ['harbor-admin']],
      ['flux-system', ['sovereign-cutover-gitea-auth', 'sovereign-cutover-harbor-ca']],
      ['flux-system', ['ghcr-pull']],
      ['catalyst', ['sovereign-cutover-pull-backup']],
    ],
  );
  // The pull Secret, where the HelmRepositories are: 06 adds the local Harbor, 08 strips the upstreams — by name.
  assert.deepEqual(
    grants
      .filter((g) => g.resource === 'secrets' && g.verbs.includes('patch') && g.resourceNames?.includes('ghcr-pull'))
      .map((g) => [g.namespace, g.verbs, g.resourceNames]),
    [['flux-system', ['get', 'patch'], ['ghcr-pull']]],
  );
  // Every Secret grant names its Secrets: none is namespace-wide or cluster-wide.
  assert.deepEqual(
    grants.filter((g) => g.resource === 'secrets' && !g.resourceNames?.length),
    [],
  );
});

test('create by name only beside patch: server-side apply names the object it creates (a POST never could)', () => {
  const patchable = (g: Grant, name: string) =>
    grants.some(
      (p) =>
        p.verbs.includes('patch') &&
        p.apiGroup === g.apiGroup &&
        p.resource === g.resource &&
        (p.namespace === undefined || p.namespace === g.namespace) &&
        (!p.resourceNames || p.resourceNames.includes(name)),
    );
  for (const g of grants.filter((g) => g.verbs.includes('create') && g.resourceNames))
    for (const name of g.resourceNames ?? [])
      assert.ok(patchable(g, name), `create ${g.resource}/${name} without patch`);
  // No Secret can be created but by its name: the credential Secrets, the session key.
  assert.deepEqual(
    grants.filter((g) => g.resource === 'secrets' && g.verbs.includes('create') && !g.resourceNames),
    [],
  );
});

test("policies: the runner writes only the cutover's own NetworkPolicies and Cilium policy, by name", () => {
  for (const resource of ['networkpolicies', 'ciliumclusterwidenetworkpolicies']) {
    const writes = grants.filter(
      (g) => g.resource === resource && g.verbs.some((v) => ['create', 'patch', 'update', 'delete'].includes(v)),
    );
    assert.ok(writes.length > 0, resource);
    for (const g of writes)
      assert.ok(
        g.resourceNames?.every((n) =>
          ['cutover-egress-hold', 'cutover-check-hold', 'cutover-egress-block'].includes(n),
        ),
        `${resource}: ${JSON.stringify(g)}`,
      );
  }
  // The node agent's namespace: its own objects by name; ConfigMaps (the nodes' reports) are the one
  // kind whose names are not known ahead — and they are all the namespace holds besides the agent's config.
  for (const g of grants.filter((g) => g.namespace === 'catalyst-agent' && g.verbs.includes('patch')))
    assert.ok(g.resourceNames?.length === 1 || g.resource === 'configmaps', JSON.stringify(g));
});

test('07 may patch the configured Deployment only, and only as the live fallback', () => {
  const deployments = grants.filter((g) => g.resource === 'deployments' && g.verbs.includes('patch'));
  assert.deepEqual(deployments, [
    {
      namespace: 'apps',
      apiGroup: 'apps',
      resource: 'deployments',
      verbs: ['patch'],
      resourceNames: ['api'],
      onlyFor: 'live',
    },
  ]);
});

test('Kustomizations and Flux sources are patched only in the namespaces the values allow', () => {
  const withTenant = runnerGrants({ ...values, flux: { namespaces: ['tenant-a'] } }, 'catalyst');
  const patched = (gs: Grant[], resource: string) =>
    gs.filter((g) => g.resource === resource && g.verbs.includes('patch')).map((g) => g.namespace);
  assert.deepEqual(patched(grants, 'kustomizations'), ['flux-system']);
  assert.deepEqual(patched(withTenant, 'kustomizations'), ['flux-system', 'tenant-a']);
  for (const resource of ['gitrepositories', 'helmrepositories', 'ocirepositories', 'helmcharts'])
    assert.deepEqual(patched(withTenant, resource), ['flux-system', 'tenant-a'], resource);
  // Step 05's Gitea credential and 06's copy of the Harbor CA: by their names in each of them (in
  // flux-system, 06's pull-Secret grant covers them).
  const mayPatch = (ns: string) =>
    withTenant.some(
      (g) =>
        g.namespace === ns &&
        g.resource === 'secrets' &&
        g.verbs.includes('patch') &&
        (!g.resourceNames || g.resourceNames.includes('sovereign-cutover-gitea-auth')),
    );
  assert.ok(mayPatch('flux-system') && mayPatch('tenant-a'));
  assert.ok(!mayPatch('gitea'));
  assert.ok(
    withTenant.some(
      (g) =>
        g.namespace === 'tenant-a' &&
        g.resource === 'secrets' &&
        JSON.stringify(g.resourceNames) === '["sovereign-cutover-gitea-auth","sovereign-cutover-harbor-ca"]',
    ),
    'by name where nothing broader applies',
  );
});

test('a verb a broader grant gives is dropped from the narrower one', () => {
  const g = (grant: Partial<Grant>): Grant => ({ apiGroup: '', resource: 'pods', verbs: ['list'], ...grant });
  assert.deepEqual(
    withoutRedundancy([
      g({ verbs: ['list'] }),
      g({ namespace: 'a', verbs: ['list', 'create'] }),
      g({ namespace: 'a', verbs: ['get'], resourceNames: ['p'] }),
      g({ namespace: 'a', verbs: ['get'] }),
    ]),
    [g({ verbs: ['list'] }), g({ namespace: 'a', verbs: ['create'] }), g({ namespace: 'a', verbs: ['get'] })],
  );
});

test('the API runs nothing: the session key is its only Secret, no pod, Job or Flux write, nothing cluster-wide but TokenReviews', () => {
  const api = apiGrants(values, 'catalyst');
  const writes = ['create', 'patch', 'update', 'delete', 'deletecollection'];
  assert.deepEqual(
    api.filter((g) => g.resource === 'secrets').map((g) => [g.namespace, g.verbs, g.resourceNames]),
    [['catalyst', ['get', 'create', 'patch'], ['sovereign-cutover-session']]],
  );
  assert.deepEqual(
    api.filter((g) => g.namespace === undefined).map((g) => `${g.apiGroup}/${g.resource}:${g.verbs.join(',')}`),
    ['authentication.k8s.io/tokenreviews:create'],
  );
  for (const g of api.filter((g) => g.verbs.some((v) => writes.includes(v))))
    assert.ok(
      (g.resource === 'configmaps' && g.resourceNames?.join() === 'self-sovereign-cutover-status') ||
        (g.resource === 'secrets' && g.resourceNames?.join() === 'sovereign-cutover-session') ||
        g.resource === 'events' ||
        g.resource === 'tokenreviews',
      `the API writes ${g.resource} ${g.resourceNames?.join() ?? '(any)'}`,
    );
  for (const resource of ['pods', 'jobs', 'daemonsets', 'networkpolicies', 'leases'])
    assert.ok(!api.some((g) => g.resource === resource && g.verbs.some((v) => writes.includes(v))), resource);
  // …and the runner no longer holds what only the API does.
  const runner = runnerGrants(values, 'catalyst');
  assert.ok(!runner.some((g) => g.resource === 'tokenreviews'));
  assert.ok(!runner.some((g) => g.resourceNames?.includes('sovereign-cutover-session')));
});
