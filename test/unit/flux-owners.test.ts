// What applied an object (Flux's owner labels) and whether Git owns a Kustomization's
// spec.patches (kustomize-controller's managedFields): the two facts the durable pivot decides on.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { gitDefines, ownerOf, rereadOnConflict, type FluxOwner } from '../../src/adapters/kube/flux-owners.ts';
import { PeerError } from '../../src/core/errors.ts';

test('the owner comes from the labels kustomize- and helm-controller put on what they apply', () => {
  assert.deepEqual(
    ownerOf({ 'kustomize.toolkit.fluxcd.io/name': 'apps', 'kustomize.toolkit.fluxcd.io/namespace': 'flux-system' }),
    { kind: 'Kustomization', ref: { namespace: 'flux-system', name: 'apps' } },
  );
  assert.deepEqual(ownerOf({ 'helm.toolkit.fluxcd.io/name': 'web', 'helm.toolkit.fluxcd.io/namespace': 'tenant' }), {
    kind: 'HelmRelease',
    ref: { namespace: 'tenant', name: 'web' },
  });
  assert.equal(ownerOf({ 'kustomize.toolkit.fluxcd.io/name': 'apps' }), undefined, 'a name alone is no owner');
  assert.equal(ownerOf(undefined), undefined);
});

const kustomization = (managers: Array<{ manager: string; fields: Record<string, unknown> }>): FluxOwner => ({
  metadata: {
    namespace: 'flux-system',
    name: 'apps',
    managedFields: managers.map((m) => ({ manager: m.manager, operation: 'Apply', fieldsV1: m.fields })),
  },
  spec: { patches: [{ patch: 'x' }] },
});

test("Git defines spec.patches only when kustomize-controller's managed fields hold it", () => {
  const patches = { 'f:spec': { 'f:patches': {} } };
  assert.equal(gitDefines(kustomization([{ manager: 'kustomize-controller', fields: patches }]), 'patches'), true);
  // Ours (or anyone else's) is not Git's: the list can carry our entries.
  assert.equal(gitDefines(kustomization([{ manager: 'sovereign-cutover', fields: patches }]), 'patches'), false);
  assert.equal(
    gitDefines(kustomization([{ manager: 'kustomize-controller', fields: { 'f:spec': { 'f:path': {} } } }]), 'patches'),
    false,
  );
});

test('a write that meets a 409 (Flux wrote the owner since our read) runs again from a fresh read; other errors and a sixth conflict do not', async () => {
  const conflict = () => new PeerError('APPLY', 'kustomizations/ns/parent', 409, 'the object has been modified');
  let attempts = 0;
  assert.equal(
    await rereadOnConflict(async () => {
      if (++attempts < 3) throw conflict();
      return 'written';
    }),
    'written',
  );
  assert.equal(attempts, 3);

  attempts = 0;
  await assert.rejects(
    rereadOnConflict(async () => {
      attempts++;
      throw new PeerError('APPLY', 'kustomizations/ns/parent', 403, 'forbidden');
    }),
    (error: unknown) => error instanceof PeerError && error.status === 403,
  );
  assert.equal(attempts, 1, 'a refusal is not retried');

  attempts = 0;
  await assert.rejects(
    rereadOnConflict(async () => {
      attempts++;
      throw conflict();
    }),
    (error: unknown) => error instanceof PeerError && error.status === 409,
  );
  assert.equal(attempts, 5, 'conflicts in a row end after five attempts');
});
