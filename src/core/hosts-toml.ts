// containerd's per-host registry config (certs.d/<host>/hosts.toml) for a pivoted node: pulls of
// `<host>/<path>` go to the local Harbor's `/v2/<project>/<path>` (override_path), and the fallback
// `server` is the local Harbor too — never the upstream, so a miss fails instead of leaking egress.
import { stringify } from 'smol-toml';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import type { HostProject } from './values.ts';

/** The CA bundle the agent writes beside hosts.toml, which names it relative to its own directory. */
export const HARBOR_CA_FILE = 'sovereign-cutover-harbor-ca.crt';

/**
 * `tls`: the local Harbor's CA file (beside hosts.toml) and whether to skip verification. Both go on
 * the `[host]` entry: containerd 1.6/1.7 ignore a root-level `ca` unless the file has a `[host]` too.
 */
/** The mirror endpoint a pivoted host resolves through (what the node agent reports for it). */
export function pivotedEndpoint(row: HostProject, harborURL: string): string {
  return `${harborURL.replace(/\/+$/, '')}/v2/${row.project}`;
}

export function pivotedHostsToml(
  row: HostProject,
  harborURL: string,
  tls: { caFile?: string; skipVerify?: boolean } = {},
): string {
  const harbor = harborURL.replace(/\/+$/, '');
  return `# written by sovereign-cutover (registry-pivot): ${row.host} → ${harbor}/${row.project}\n${stringify({
    server: harbor,
    host: {
      [pivotedEndpoint(row, harborURL)]: {
        capabilities: ['pull', 'resolve'],
        override_path: true,
        ...(tls.caFile ? { ca: tls.caFile } : {}),
        ...(tls.skipVerify ? { skip_verify: true } : {}),
      },
    },
  })}`;
}

/**
 * k3s/RKE2 registries.yaml for the same table (read by k3s at start only; hosts.toml is what pivots
 * live): the node's own file (`original`) with a mirror per mapped host set to the local Harbor —
 * its other mirrors and every `configs:` entry (TLS, auth) kept. Parsed and written as YAML, never
 * pieced together from strings, so a host name or project cannot break the file's structure.
 */
export function pivotedRegistriesYaml(rows: HostProject[], harborURL: string, original = ''): string {
  const harbor = harborURL.replace(/\/+$/, '');
  const parsed: unknown = original.trim() ? parseYaml(original) : {};
  if (parsed !== null && (typeof parsed !== 'object' || Array.isArray(parsed)))
    throw new Error('registries.yaml is not a mapping: left as it is');
  const doc = { ...((parsed ?? {}) as Record<string, unknown>) };
  const mirrors = doc.mirrors;
  if (mirrors !== undefined && mirrors !== null && (typeof mirrors !== 'object' || Array.isArray(mirrors)))
    throw new Error('registries.yaml mirrors is not a mapping: left as it is');
  doc.mirrors = {
    ...((mirrors ?? {}) as Record<string, unknown>),
    ...Object.fromEntries(
      rows.map((row) => [row.host, { endpoint: [harbor], rewrite: { '^(.*)$': `${row.project}/$1` } }]),
    ),
  };
  return `# written by sovereign-cutover (registry-pivot); the node's own file is kept beside it\n${stringifyYaml(doc)}`;
}
