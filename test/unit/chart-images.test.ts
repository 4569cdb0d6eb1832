// The images a chart declares in its default values, read from a real chart package built here with
// the lab corpus's tar writer (a ustar archive, gzip), as `helm package` makes them.
import assert from 'node:assert/strict';
import { gzipSync } from 'node:zlib';
import { test } from 'node:test';
import { tar } from '../../lab/corpus/tar.ts';
import { chartImages, untar } from '../../src/inventory/chart-images.ts';

const chart = (values: string, chartYaml = 'apiVersion: v2\nname: app\nversion: 1.2.3\nappVersion: "4.5.6"\n') =>
  gzipSync(
    tar([
      { path: 'app/Chart.yaml', data: Buffer.from(chartYaml) },
      { path: 'app/values.yaml', data: Buffer.from(values) },
      { path: 'app/charts/sub/values.yaml', data: Buffer.from('image: ghcr.io/sub/never:1\n') },
      { path: 'app/templates/d.yaml', data: Buffer.from('image: {{ .Values.image }}\n') },
    ]),
  );

test('untar reads every regular file of a ustar archive, with its bytes', () => {
  const files = untar(
    tar([
      { path: 'a/b.txt', data: Buffer.from('x'.repeat(700)) },
      { path: 'a/c', data: Buffer.from('') },
    ]),
  );
  assert.deepEqual([...files.keys()], ['a/b.txt', 'a/c']);
  assert.equal(files.get('a/b.txt')?.toString(), 'x'.repeat(700));
});

test('chart images: strings, registry/repository/tag objects, digests, appVersion as the default tag; not subcharts', () => {
  const values = [
    'image: ghcr.io/openova-io/app:1.0.0',
    'sidecar:',
    '  image: { registry: quay.io, repository: jetstack/cert-manager-controller, tag: v1.16.1 }',
    'proxy:',
    '  initImage: { repository: docker.io/library/busybox, digest: "sha256:' + 'a'.repeat(64) + '" }',
    'metrics:',
    '  image: { repository: ghcr.io/openova-io/metrics }',
    'pullPolicy: { image: IfNotPresent }',
    'local:',
    '  image: nginx',
  ].join('\n');
  assert.deepEqual(chartImages(chart(values)).sort(), [
    `docker.io/library/busybox@sha256:${'a'.repeat(64)}`,
    'ghcr.io/openova-io/app:1.0.0',
    'ghcr.io/openova-io/metrics:4.5.6',
    'nginx',
    'quay.io/jetstack/cert-manager-controller:v1.16.1',
  ]);
  assert.deepEqual(chartImages(chart('{}\n')), [], 'no image in the values');
});
