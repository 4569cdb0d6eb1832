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
