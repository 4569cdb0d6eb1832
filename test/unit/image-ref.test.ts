// Image references as the kubelet reads them.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatImageRef, parseImageRef, reference } from '../../src/core/image-ref.ts';

const normal = (text: string) => formatImageRef(parseImageRef(text));

test('Docker Hub short names are docker.io/library/…:latest', () => {
  assert.equal(normal('nginx'), 'docker.io/library/nginx:latest');
  assert.equal(normal('bitnami/redis:7'), 'docker.io/bitnami/redis:7');
  assert.equal(normal('index.docker.io/library/busybox:1.36'), 'docker.io/library/busybox:1.36');
  assert.equal(normal('registry-1.docker.io/alpine'), 'docker.io/library/alpine:latest');
});

test('hosts are recognised by a dot, a port or localhost; ports are not tags', () => {
  assert.deepEqual(parseImageRef('ghcr.io/openova-io/catalyst-api:0.4.1'), {
    host: 'ghcr.io',
    path: 'openova-io/catalyst-api',
    tag: '0.4.1',
  });
  assert.deepEqual(parseImageRef('127.0.0.1:15001/lab/app'), {
    host: '127.0.0.1:15001',
    path: 'lab/app',
    tag: 'latest',
  });
  assert.equal(parseImageRef('localhost/app:dev').host, 'localhost');
});

test('a digest pins the reference; tag and digest both kept', () => {
  const digest = `sha256:${'a'.repeat(64)}`;
  const ref = parseImageRef(`quay.io/org/app:1.0@${digest}`);
  assert.deepEqual(ref, { host: 'quay.io', path: 'org/app', tag: '1.0', digest });
  assert.equal(reference(ref), digest);
  assert.equal(reference(parseImageRef('quay.io/org/app:1.0')), '1.0');
  assert.equal(parseImageRef(`quay.io/org/app@${digest}`).tag, undefined, 'no latest next to a digest');
});
