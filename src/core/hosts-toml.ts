// containerd's per-host registry config (certs.d/<host>/hosts.toml) for a pivoted node: pulls of
// `<host>/<path>` go to the local Harbor's `/v2/<project>/<path>` (override_path), and the fallback
// `server` is the local Harbor too — never the upstream, so a miss fails instead of leaking egress.
import { stringify } from 'smol-toml';
import type { HostProject } from './values.ts';

/** The CA bundle the agent writes beside hosts.toml, which names it relative to its own directory. */
export const HARBOR_CA_FILE = 'sovereign-cutover-harbor-ca.crt';

/**
 * `tls`: the local Harbor's CA file (beside hosts.toml) and whether to skip verification. Both go on
 * the `[host]` entry: containerd 1.6/1.7 ignore a root-level `ca` unless the file has a `[host]` too.
 */
export function pivotedHostsToml(
  row: HostProject,
  harborURL: string,
  tls: { caFile?: string; skipVerify?: boolean } = {},
): string {
  const harbor = harborURL.replace(/\/+$/, '');
  return `# written by sovereign-cutover (registry-pivot): ${row.host} → ${harbor}/${row.project}\n${stringify({
    server: harbor,
    host: {
      [`${harbor}/v2/${row.project}`]: {
        capabilities: ['pull', 'resolve'],
        override_path: true,
        ...(tls.caFile ? { ca: tls.caFile } : {}),
        ...(tls.skipVerify ? { skip_verify: true } : {}),
      },
    },
  })}`;
}

/** k3s/RKE2 registries.yaml mirrors for the same table (read by k3s at start only; hosts.toml is what pivots live). */
export function pivotedRegistriesYaml(rows: HostProject[], harborURL: string): string {
  const harbor = harborURL.replace(/\/+$/, '');
  const lines = ['# written by sovereign-cutover (registry-pivot)', 'mirrors:'];
  for (const row of rows) {
    lines.push(
      `  "${row.host}":`,
      `    endpoint: ["${harbor}"]`,
      '    rewrite:',
      `      "^(.*)$": "${row.project}/$1"`,
    );
  }
  return `${lines.join('\n')}\n`;
}
