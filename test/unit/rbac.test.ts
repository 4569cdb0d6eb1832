// The runner's RBAC, derived from values: Secrets by name, create never beside resourceNames, no
// verb granted twice.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseValues } from '../../src/core/values.ts';
import { runnerGrants, withoutRedundancy, type Grant } from '../../src/render/rbac.ts';

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
    ],
  );
  // The pull Secret's namespace is where 06 edits the pull Secrets: read and patch there already cover it.
  assert.ok(grants.some((g) => g.namespace === 'flux-system' && g.resource === 'secrets' && g.verbs.includes('get')));
  assert.ok(!grants.some((g) => g.resource === 'secrets' && g.namespace === undefined), 'no cluster-wide Secret grant');
});

test('create never sits in a rule with resourceNames (the apiserver cannot name what does not exist)', () => {
  assert.deepEqual(
    grants.filter((g) => g.verbs.includes('create') && g.resourceNames),
    [],
  );
});

test('07 may patch the configured Deployment only', () => {
  const deployments = grants.filter((g) => g.resource === 'deployments' && g.verbs.includes('patch'));
  assert.deepEqual(deployments, [
    { namespace: 'apps', apiGroup: 'apps', resource: 'deployments', verbs: ['get', 'patch'], resourceNames: ['api'] },
  ]);
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
