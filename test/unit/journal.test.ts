// The journal's pure half: which fields a merge changes, how a recorded value is put back inside an
// object (named list items included), and the order rollback undoes entries in.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  changesAgainst,
  entryKey,
  leaves,
  undoOrder,
  valueAt,
  withValue,
  type JournalEntry,
} from '../../src/core/journal.ts';

const deployment = {
  metadata: { name: 'api', annotations: { keep: 'me' } },
  spec: {
    template: {
      spec: {
        containers: [
          { name: 'sidecar', image: 's' },
          {
            name: 'api',
            image: 'a',
            env: [
              { name: 'OTHER', value: 'o' },
              { name: 'GIT_URL', value: 'https://github.com/x' },
            ],
          },
        ],
      },
    },
  },
};

test('leaves: nested objects walked, lists of named items walked by name, anything else one leaf', () => {
  const fields = {
    spec: {
      url: 'http://gitea/x',
      secretRef: { name: 'auth' },
      template: { spec: { containers: [{ name: 'api', env: [{ name: 'GIT_URL', value: 'http://gitea/x' }] }] } },
      patches: [{ patch: 'p' }],
    },
  };
  assert.deepEqual(leaves(fields), [
    { path: ['spec', 'url'], value: 'http://gitea/x' },
    { path: ['spec', 'secretRef', 'name'], value: 'auth' },
    {
      path: ['spec', 'template', 'spec', 'containers', { name: 'api' }, 'env', { name: 'GIT_URL' }, 'value'],
      value: 'http://gitea/x',
    },
    { path: ['spec', 'patches'], value: [{ patch: 'p' }] },
  ]);
});

test('valueAt reads through named items and is undefined for anything absent', () => {
  const path = ['spec', 'template', 'spec', 'containers', { name: 'api' }, 'env', { name: 'GIT_URL' }, 'value'];
  assert.equal(valueAt(deployment, path), 'https://github.com/x');
  assert.equal(valueAt(deployment, ['spec', 'template', 'spec', 'containers', { name: 'nope' }, 'image']), undefined);
  assert.equal(valueAt(deployment, ['metadata', 'labels', 'x']), undefined);
});

test('withValue sets, creates on the way and removes; the input is never changed', () => {
  const envPath = ['spec', 'template', 'spec', 'containers', { name: 'api' }, 'env', { name: 'GIT_URL' }, 'value'];
  const local = withValue(deployment, envPath, 'http://gitea/x');
  assert.equal(valueAt(local, envPath), 'http://gitea/x');
  assert.equal(valueAt(deployment, envPath), 'https://github.com/x', 'the original is untouched');
  assert.deepEqual(
    withValue(local, envPath, 'https://github.com/x'),
    deployment,
    'setting the value before restores the object',
  );

  const added = withValue(
    deployment,
    ['metadata', 'annotations', 'cutover.openova.io/pre-pivot-revision'],
    'main@sha1:1',
  );
  assert.equal(added.metadata.annotations['cutover.openova.io/pre-pivot-revision' as 'keep'], 'main@sha1:1');
  assert.deepEqual(
    withValue(added, ['metadata', 'annotations', 'cutover.openova.io/pre-pivot-revision'], undefined),
    deployment,
  );

  const newItem = ['spec', 'template', 'spec', 'containers', { name: 'api' }, 'env', { name: 'NEW' }, 'value'];
  const withNew = withValue(deployment, newItem, 'v');
  assert.deepEqual(
    valueAt(withNew, ['spec', 'template', 'spec', 'containers', { name: 'api' }, 'env', { name: 'NEW' }]),
    {
      name: 'NEW',
      value: 'v',
    },
  );
  const created = withValue({ spec: {} }, ['spec', 'secretRef', 'name'], 'auth');
  assert.deepEqual(created, { spec: { secretRef: { name: 'auth' } } });
  assert.deepEqual(
    withValue({ spec: {} }, ['spec', 'secretRef', 'name'], undefined),
    { spec: {} },
    'removing the absent is a no-op',
  );
});

const entry = (seq: string, fields: Partial<JournalEntry>): JournalEntry => ({
  seq,
  step: 'flux-gitrepository-patch',
  run: 'r',
  at: 't',
  op: 'set',
  object: { apiVersion: 'source.toolkit.fluxcd.io/v1', kind: 'GitRepository', namespace: 'flux-system', name: 'x' },
  ...fields,
});

test('undoOrder: newest first, one per field, each with the value before its first change', () => {
  const url = ['spec', 'url'];
  const entries = [
    entry('e.2', { path: url, before: 'http://gitea/x', after: 'http://gitea/y' }),
    entry('e.1', { path: url, before: 'https://github.com/x', after: 'http://gitea/x' }),
    entry('e.3', { op: 'create', object: { apiVersion: 'v1', kind: 'Secret', namespace: 'flux-system', name: 's' } }),
  ];
  const order = undoOrder(entries);
  assert.deepEqual(
    order.map((e) => [e.seq, e.before]),
    [
      ['e.3', undefined],
      ['e.2', 'https://github.com/x'],
    ],
  );
  assert.notEqual(entryKey(order[0]!), entryKey(order[1]!));
});

test('changesAgainst: a differing leaf with its value before; a parent the live object lacks, whole', () => {
  const live = { spec: { url: 'oci://ghcr.io/x', insecure: false } };
  const fields = { spec: { url: 'oci://harbor/x', insecure: false, certSecretRef: { name: 'ca' } } };
  assert.deepEqual(changesAgainst(live, fields), [
    { path: ['spec', 'url'], before: 'oci://ghcr.io/x', after: 'oci://harbor/x' },
    { path: ['spec', 'certSecretRef'], before: undefined, after: { name: 'ca' } },
  ]);
  const envFields = {
    spec: { template: { spec: { containers: [{ name: 'api', env: [{ name: 'NEW', value: 'v' }] }] } } },
  };
  assert.deepEqual(changesAgainst(deployment, envFields), [
    {
      path: ['spec', 'template', 'spec', 'containers', { name: 'api' }, 'env', { name: 'NEW' }],
      before: undefined,
      after: { name: 'NEW', value: 'v' },
    },
  ]);
  assert.deepEqual(
    changesAgainst(live, { spec: { url: 'oci://ghcr.io/x' } }),
    [],
    'nothing to change, nothing journaled',
  );
});

test('changesAgainst: a new annotation is journaled as its own key, never as the whole map', () => {
  const live = { metadata: { name: 'x' } };
  assert.deepEqual(changesAgainst(live, { metadata: { annotations: { 'reconcile.fluxcd.io/requestedAt': 't' } } }), [
    { path: ['metadata', 'annotations', 'reconcile.fluxcd.io/requestedAt'], before: undefined, after: 't' },
  ]);
  // Written back: the key goes, whatever others added to the map since.
  const now = { metadata: { name: 'x', annotations: { 'reconcile.fluxcd.io/requestedAt': 't', theirs: 'y' } } };
  assert.deepEqual(withValue(now, ['metadata', 'annotations', 'reconcile.fluxcd.io/requestedAt'], undefined), {
    metadata: { name: 'x', annotations: { theirs: 'y' } },
  });
});
