// The node agent (`cutover agent`, one per node via the registry-pivot DaemonSet). Level-triggered:
// every few seconds it reads `registriesYamlActive` from the status ConfigMap, makes the node's
// containerd certs.d (and k3s registries.yaml where the node is k3s) match it, and acks
// `node.<NODE_NAME>.registriesYaml`. v2 pivots every mapped host to the local Harbor; v1/rollback
// restores the node's original files, which it keeps beside them before the first change.
import { copyFileSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { HARBOR_CA_FILE, pivotedHostsToml, pivotedRegistriesYaml } from '../core/hosts-toml.ts';
import {
  nodeAckKey,
  nodeRegistryKey,
  type AgentConfig,
  type AgentRegistryReport,
  type RegistriesYaml,
} from '../core/contracts.ts';
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

/** Converges the node every 2 s until `signal`; `store` is this node's view of the status ConfigMap. */
export async function runAgent(
  config: AgentConfig,
  store: StatusStore,
  log: (line: string) => void,
  signal?: AbortSignal,
): Promise<void> {
  let last = '';
  while (!signal?.aborted) {
    try {
      const status = await store.read();
      const desired = (status?.registriesYamlActive || 'v1') as RegistriesYaml;
      converge(config, desired);
      // The node's actual registry routes, for the tether inventory.
      const report = JSON.stringify(registryReport(config));
      if (
        status &&
        (status[nodeAckKey(config.nodeName)] !== desired || status[nodeRegistryKey(config.nodeName)] !== report)
      ) {
        await store.patch({ [nodeAckKey(config.nodeName)]: desired, [nodeRegistryKey(config.nodeName)]: report });
      }
      if (desired !== last)
        log(`node ${config.nodeName}: registries ${desired} (${config.hostProjects.length} hosts) acked`);
      last = desired;
    } catch (error) {
      log(`node ${config.nodeName}: ${error instanceof Error ? error.message : String(error)} (retrying)`);
    }
    await sleep(2000, undefined, { signal }).catch(() => undefined);
  }
}
