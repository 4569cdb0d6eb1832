// What the node agent writes: containerd hosts.toml per upstream host, k3s registries.yaml.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parse as parseToml } from 'smol-toml';
import { parse as parseYaml } from 'yaml';
import { pivotedHostsToml, pivotedRegistriesYaml } from '../../src/core/hosts-toml.ts';
import type { HostProject } from '../../src/core/values.ts';

const row = (host: string, project: string): HostProject => ({
  host,
  project,
  mode: 'mirror',
  upstreamURL: `https://${host}`,
  registryType: 'docker-registry',
  authMode: 'anonymous',
});

test('hosts.toml sends pulls to the project path on the local Harbor, and never falls back upstream', () => {
  const text = pivotedHostsToml(row('ghcr.io', 'ghcr-mirror'), 'https://harbor.sovereign.example/');
  assert.match(
    text,
    /^# written by sovereign-cutover \(registry-pivot\): ghcr\.io → https:\/\/harbor\.sovereign\.example\/ghcr-mirror\n/,
  );
  const parsed = parseToml(text) as {
    server: string;
    host: Record<string, { capabilities: string[]; override_path: boolean }>;
  };
  assert.equal(parsed.server, 'https://harbor.sovereign.example', 'the fallback is the local Harbor, not ghcr.io');
  assert.deepEqual(Object.keys(parsed.host), ['https://harbor.sovereign.example/v2/ghcr-mirror']);
  assert.deepEqual(
    { ...parsed.host['https://harbor.sovereign.example/v2/ghcr-mirror'] },
    {
      capabilities: ['pull', 'resolve'],
      override_path: true,
    },
  );
});

test('registries.yaml mirrors every host to the Harbor with a rewrite into its project', () => {
  const parsed = parseYaml(
    pivotedRegistriesYaml([row('ghcr.io', 'ghcr-mirror'), row('docker.io', 'hub')], 'https://harbor.example//'),
  ) as { mirrors: Record<string, { endpoint: string[]; rewrite: Record<string, string> }> };
  assert.deepEqual(parsed.mirrors['docker.io'], {
    endpoint: ['https://harbor.example'],
    rewrite: { '^(.*)$': 'hub/$1' },
  });
  assert.deepEqual(Object.keys(parsed.mirrors), ['ghcr.io', 'docker.io']);
});

test("registries.yaml keeps the node's own file: its configs (TLS, auth) and other mirrors; a rerun writes the same", () => {
  const original = `mirrors:
  quay.io:
    endpoint: ["https://quay-cache.internal"]
  docker.io:
    endpoint: ["https://old-docker-mirror"]
configs:
  "harbor.example":
    tls:
      ca_file: /etc/ssl/harbor-ca.pem
    auth:
      username: node
      password: kept-as-is
`;
  const text = pivotedRegistriesYaml([row('docker.io', 'hub')], 'https://harbor.example', original);
  const parsed = parseYaml(text) as {
    mirrors: Record<string, { endpoint: string[]; rewrite?: Record<string, string> }>;
    configs: Record<string, unknown>;
  };
  assert.deepEqual(parsed.configs, (parseYaml(original) as { configs: unknown }).configs);
  assert.deepEqual(parsed.mirrors['quay.io'], { endpoint: ['https://quay-cache.internal'] });
  assert.deepEqual(parsed.mirrors['docker.io'], {
    endpoint: ['https://harbor.example'],
    rewrite: { '^(.*)$': 'hub/$1' },
  });
  assert.equal(pivotedRegistriesYaml([row('docker.io', 'hub')], 'https://harbor.example', original), text);
  // A host or project that would break a string-built file is just a string to the YAML writer.
  const odd = pivotedRegistriesYaml([row('evil": x\n  injected', 'p"\n- y')], 'https://harbor.example');
  assert.deepEqual(Object.keys((parseYaml(odd) as { mirrors: object }).mirrors), ['evil": x\n  injected']);
  assert.throws(() => pivotedRegistriesYaml([row('docker.io', 'hub')], 'https://h', '- a list'), /not a mapping/);
});
