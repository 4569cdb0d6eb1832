// One Debian `docker-registry` (CNCF distribution 2.8) instance: a plain store, or a
// pull-through cache in front of a remote (distribution's proxy mode).
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { ensurePeersPki, TRUST_BUNDLE, type ServingCert } from './peers-pki.ts';
import { httpOk, startDaemon, stopDaemon, waitUntil } from './processes.ts';

export interface RegistryInstance {
  name: string;
  port: number;
  /** Where it listens (default 127.0.0.1: a peer's private store). */
  address?: string;
  /** Directory holding config.yml, storage/, the pid file and the log. */
  dir: string;
  proxy?: { remoteUrl: string; username?: string; password?: string };
  /** Serve HTTPS with this certificate (the lab's private CA signed it). */
  tls?: ServingCert;
  /** Log every request (combined log format, with the User-Agent) to the registry's log: who pulled what. */
  accessLog?: boolean;
}

export const registryLog = (r: Pick<RegistryInstance, 'dir'>): string => join(r.dir, 'registry.log');

export function registryUrl(r: RegistryInstance): string {
  return `${r.tls ? 'https' : 'http'}://${r.address ?? '127.0.0.1'}:${r.port}`;
}

export async function startRegistry(r: RegistryInstance): Promise<'started' | 'running'> {
  mkdirSync(join(r.dir, 'storage'), { recursive: true });
  const config = {
    version: 0.1,
    log: { level: 'warn', accesslog: { disabled: !r.accessLog } },
    storage: {
      filesystem: { rootdirectory: join(r.dir, 'storage') },
      delete: { enabled: true },
      cache: { blobdescriptor: 'inmemory' },
    },
    http: {
      addr: `${r.address ?? '127.0.0.1'}:${r.port}`,
      headers: { 'X-Content-Type-Options': ['nosniff'] },
      ...(r.tls ? { tls: { certificate: r.tls.cert, key: r.tls.key } } : {}),
    },
    ...(r.proxy
      ? {
          proxy: {
            remoteurl: r.proxy.remoteUrl,
            ...(r.proxy.username ? { username: r.proxy.username, password: r.proxy.password } : {}),
          },
        }
      : {}),
  };
  writeFileSync(join(r.dir, 'config.yml'), stringify(config));
  const logFile = registryLog(r);
  const state = startDaemon({
    name: `registry ${r.name}`,
    command: 'docker-registry',
    args: ['serve', join(r.dir, 'config.yml')],
    pidFile: join(r.dir, 'registry.pid'),
    logFile,
    // A pull-through cache of an HTTPS upstream on the private CA trusts it (Go reads SSL_CERT_FILE).
    env: { SSL_CERT_FILE: (ensurePeersPki(), TRUST_BUNDLE) },
  });
  await waitUntil(
    `registry ${r.name} on port ${r.port}`,
    () => httpOk(`${registryUrl(r)}/v2/`, (s) => s === 200),
    15_000,
    { logFile, pidFile: join(r.dir, 'registry.pid') },
  );
  return state;
}

export async function stopRegistry(r: Pick<RegistryInstance, 'dir'>): Promise<boolean> {
  return await stopDaemon(join(r.dir, 'registry.pid'), {
    command: 'docker-registry',
    args: ['serve', join(r.dir, 'config.yml')],
  });
}
