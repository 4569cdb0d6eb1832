// The node agent (`cutover agent`, one per node via the registry-pivot DaemonSet). Level-triggered:
// every few seconds it reads `registriesYamlActive` from the status ConfigMap, makes the node's
// containerd certs.d (and k3s registries.yaml where the node is k3s) match it, and acks
// `node.<NODE_NAME>.registriesYaml`. v2 pivots every mapped host to the local Harbor; v1/rollback
// restores the node's original files, which it keeps beside them before the first change. Its config
// (the host table) is read on every pass: a table that changes reaches it without a restart.
import { copyFileSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { HARBOR_CA_FILE, pivotedHostsToml, pivotedRegistriesYaml } from '../core/hosts-toml.ts';
import { type AgentConfig, type AgentRegistryReport, type RegistriesYaml } from '../core/contracts.ts';
import type { NodeReports } from '../adapters/kube/node-reports.ts';
import { parse as parseToml } from 'smol-toml';
import type { StatusStore } from '../adapters/kube/status-store.ts';

const BACKUP = '.pre-cutover';

function writeAtomically(file: string, text: string): void {
  writeFileSync(`${file}.tmp`, text, { mode: 0o644 });
  renameSync(`${file}.tmp`, file);
}

/** Makes the node's files match `desired`; idempotent. */
export function converge(config: AgentConfig, desired: RegistriesYaml): void {
  for (const row of config.hostProjects) {
    const dir = join(config.certsDir, row.host);
    const file = join(dir, 'hosts.toml');
    if (desired === 'v2') {
      mkdirSync(dir, { recursive: true });
      // Keep the node's own file once (or a marker that there was none) so rollback is exact.
      if (!existsSync(file + BACKUP) && !existsSync(`${file}${BACKUP}.none`)) {
        if (existsSync(file)) copyFileSync(file, file + BACKUP);
        else writeFileSync(`${file}${BACKUP}.none`, '');
      }
      const { caBundle, insecureSkipVerify } = config.harborTls;
      const ca = join(dir, HARBOR_CA_FILE);
      if (caBundle && (!existsSync(ca) || readFileSync(ca, 'utf8') !== caBundle)) writeAtomically(ca, caBundle);
      const want = pivotedHostsToml(row, config.harborURL, {
        ...(caBundle ? { caFile: HARBOR_CA_FILE } : {}),
        skipVerify: insecureSkipVerify,
      });
      if (!existsSync(file) || readFileSync(file, 'utf8') !== want) writeAtomically(file, want);
      continue;
    }
    rmSync(join(dir, HARBOR_CA_FILE), { force: true });
    if (existsSync(file + BACKUP)) {
      renameSync(file + BACKUP, file);
    } else if (existsSync(`${file}${BACKUP}.none`)) {
      rmSync(file, { force: true });
      rmSync(`${file}${BACKUP}.none`, { force: true });
    }
  }
  // k3s renders registries.yaml into containerd config at start; keep it consistent for the next restart.
  const registries = join(config.k3sConfigDir, 'registries.yaml');
  if (existsSync(registries) || existsSync(registries + BACKUP)) {
    if (desired === 'v2') {
      if (!existsSync(registries + BACKUP)) copyFileSync(registries, registries + BACKUP);
      // Always from the node's own file: a rerun writes the same bytes, and its configs (TLS, auth) stay.
      const want = pivotedRegistriesYaml(
        config.hostProjects,
        config.harborURL,
        readFileSync(registries + BACKUP, 'utf8'),
      );
      if (readFileSync(registries, 'utf8') !== want) writeAtomically(registries, want);
    } else if (existsSync(registries + BACKUP)) renameSync(registries + BACKUP, registries);
  }
}

/**
 * What this node's containerd resolves each mapped host through, as its hosts.toml says: the first
 * mirror endpoint (`[host."…"]`), else `server`, else "" (no file: the host itself).
 */
export function registryReport(config: AgentConfig): AgentRegistryReport {
  const report: AgentRegistryReport = {};
  for (const row of config.hostProjects) {
    const file = join(config.certsDir, row.host, 'hosts.toml');
    if (!existsSync(file)) {
      report[row.host] = '';
      continue;
    }
    try {
      const parsed = parseToml(readFileSync(file, 'utf8')) as { server?: string; host?: Record<string, unknown> };
      report[row.host] = Object.keys(parsed.host ?? {})[0] ?? parsed.server ?? '';
    } catch {
      report[row.host] = 'unreadable';
    }
  }
  return report;
}

/**
 * Converges the node until `signal`: reads the status, makes the files match, and reports in its own
 * ConfigMap (only what changed) — then waits on a watch of the status until `registriesYamlActive`
 * changes, or a resync after 45–75 s (the files are converged again then too). Never a poll: on 500
 * nodes a read every 2 s would be 250 requests a second at the apiserver; and never a write to the
 * status every agent watches (N writers × N watchers). `store`: the status, as this node may read it.
 */
export async function runAgent(
  currentConfig: () => AgentConfig,
  store: StatusStore,
  reports: NodeReports,
  log: (line: string) => void,
  signal: AbortSignal = new AbortController().signal,
): Promise<void> {
  const node = currentConfig().nodeName;
  let last = '';
  let reported = '';
  /** One read, converge and report; what it read (to watch from). */
  const pass = async (): Promise<{ version: string; desired: string }> => {
    // Read on every pass: step 04 re-applies the config when the values change (a host added to the
    // table), and the kubelet updates the mounted ConfigMap; the agent never needs a restart for it.
    const config = currentConfig();
    const read = await store.readVersioned();
    const desired = (read?.data.registriesYamlActive || 'v1') as RegistriesYaml;
    converge(config, desired);
    // The node's actual registry routes, for the tether inventory.
    const hosts = registryReport(config);
    const report = JSON.stringify([desired, hosts]);
    if (read && report !== reported) {
      await reports.write(config.nodeName, desired, hosts);
      reported = report;
    }
    if (desired !== last)
      log(`node ${config.nodeName}: registries ${desired} (${config.hostProjects.length} hosts) acked`);
    last = desired;
    return { version: read?.version ?? '', desired };
  };
  while (!signal.aborted) {
    const seen = await pass().catch((error: unknown) => {
      log(`node ${node}: ${error instanceof Error ? error.message : String(error)} (retrying)`);
      return undefined;
    });
    if (!seen) {
      await sleep(2000, undefined, { signal }).catch(() => undefined);
      continue;
    }
    await store.waitForChange(seen.version, {
      signal,
      timeoutMs: 45_000 + Math.floor(Math.random() * 30_000),
      changed: (data) => (data.registriesYamlActive || 'v1') !== seen.desired,
    });
  }
}
