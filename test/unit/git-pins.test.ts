// The pin radar's reading of a Git revision (pure): what it sees in manifests, and what it cannot.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { pinsOf } from '../../src/inventory/git-pins.ts';

const manifests = [
  {
    file: 'apps/api.yaml',
    text: `apiVersion: apps/v1
kind: Deployment
metadata: { name: api, namespace: catalyst-system }
spec:
  template:
    spec:
      initContainers: [{ name: init, image: ghcr.io/openova-io/init:1.0 }]
      containers: [{ name: api, image: ghcr.io/openova-io/catalyst-api:1.2.3 }]
---
apiVersion: batch/v1
kind: CronJob
metadata: { name: backup }
spec: { jobTemplate: { spec: { template: { spec: { containers: [{ name: b, image: "docker.io/library/postgres:16" }] } } } } }
`,
  },
  {
    file: 'infra/flux.yaml',
    text: `apiVersion: source.toolkit.fluxcd.io/v1
kind: HelmRepository
metadata: { name: charts, namespace: flux-system }
spec: { type: oci, url: oci://ghcr.io/openova-io/charts }
---
apiVersion: helm.toolkit.fluxcd.io/v2
kind: HelmRelease
metadata: { name: harbor, namespace: flux-system }
spec: { chart: { spec: { chart: bp-harbor, version: 1.17.0, sourceRef: { kind: HelmRepository, name: charts } } } }
---
apiVersion: helm.toolkit.fluxcd.io/v2
kind: HelmRelease
metadata: { name: ranged }
spec: { chart: { spec: { chart: bp-x, version: ">=1.0.0", sourceRef: { kind: HelmRepository, name: charts } } } }
---
apiVersion: source.toolkit.fluxcd.io/v1beta2
kind: OCIRepository
metadata: { name: manifests }
spec: { url: oci://quay.io/org/manifests, ref: { tag: v2 } }
`,
  },
  {
    file: 'kustomization.yaml',
    text: 'apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nimages: [{ name: x, newTag: "9" }]\n',
  },
  { file: 'broken.yaml', text: 'kind: [unclosed\n' },
];

test('images of every pod template, exact chart versions of OCI HelmRepositories, OCIRepository artifacts', () => {
  assert.deepEqual(
    pinsOf(manifests).map((p) => `${p.kind} ${p.ref} ← ${p.foundIn}`),
    [
      'image ghcr.io/openova-io/init:1.0 ← apps/api.yaml: Deployment catalyst-system/api',
      'image ghcr.io/openova-io/catalyst-api:1.2.3 ← apps/api.yaml: Deployment catalyst-system/api',
      'image docker.io/library/postgres:16 ← apps/api.yaml: CronJob backup',
      'chart ghcr.io/openova-io/charts/bp-harbor:1.17.0 ← infra/flux.yaml: HelmRelease flux-system/harbor',
      'chart quay.io/org/manifests:v2 ← infra/flux.yaml: OCIRepository manifests',
    ],
    'a version range, kustomize overrides and an unparsable file are not read as pins',
  );
});
