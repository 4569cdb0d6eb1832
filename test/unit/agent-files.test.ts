// The node agent's file work on a node's directories (temporary ones here): what it writes for v2,
// that a rerun changes nothing, and that v1 gives the node its own files back byte for byte.
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { parse as parseYaml } from 'yaml';
import { converge } from '../../src/agent/agent.ts';
import type { AgentConfig } from '../../src/core/contracts.ts';

test("k3s registries.yaml: v2 merges into the node's own file (configs kept), a rerun rewrites nothing, v1 restores it exactly", () => {
  const root = mkdtempSync(join(tmpdir(), 'agent-'));
  try {
    const certsDir = join(root, 'certs.d');
    const k3sConfigDir = join(root, 'k3s');
    mkdirSync(k3sConfigDir);
    const own = `# the node's own
mirrors:
  quay.io:
    endpoint: ["https://quay-cache.internal"]
configs:
  "harbor.local:8443":
    tls: { ca_file: /etc/ssl/harbor.pem }
`;
    const file = join(k3sConfigDir, 'registries.yaml');
    writeFileSync(file, own);
    const config: AgentConfig = {
      nodeName: 'n1',
      namespace: 'x',
      reportNamespace: 'x',
      statusConfigMap: 'x',
      certsDir,
      k3sConfigDir,
      harborURL: 'https://harbor.local:8443',
      hostProjects: [
        {
          host: 'docker.io',
          project: 'hub',
          mode: 'proxy',
          upstreamURL: 'https://registry-1.docker.io',
          registryType: 'docker-hub',
          authMode: 'anonymous',
        },
      ],
      harborTls: { caBundle: '', insecureSkipVerify: false },
    };
    converge(config, 'v2');
    const pivoted = parseYaml(readFileSync(file, 'utf8')) as { mirrors: Record<string, unknown>; configs: unknown };
    assert.deepEqual(pivoted.configs, { 'harbor.local:8443': { tls: { ca_file: '/etc/ssl/harbor.pem' } } });
    assert.deepEqual(Object.keys(pivoted.mirrors), ['quay.io', 'docker.io']);
    const written = statSync(file).mtimeMs;
    converge(config, 'v2');
    assert.equal(statSync(file).mtimeMs, written, 'a rerun rewrites nothing');
    converge(config, 'v1');
    assert.equal(readFileSync(file, 'utf8'), own, 'byte for byte');
    assert.equal(existsSync(join(certsDir, 'docker.io', 'hosts.toml')), false, 'the node had no hosts.toml for it');
  } finally {
    rmSync(root, { recursive: true });
  }
});
