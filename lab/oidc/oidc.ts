// The lab identity provider as a lab daemon (main.ts): the API's OIDC client, whose redirect URIs
// cover every API port, and the lab's users.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { httpOk, startDaemon, stopDaemon, waitUntil } from '../processes.ts';
import type { Log } from '../timed.ts';
import { API_PORTS, clusterHost, LAB_DIR, NET, OIDC_CLIENT, OIDC_USERS, PORTS } from '../topology.ts';
import type { LabOidcConfig } from './provider.ts';
import { ensurePeersPki, PEERS_CERT } from '../peers-pki.ts';

const oidcDaemon = {
  name: 'lab OIDC provider',
  dir: join(LAB_DIR, 'oidc'),
  pidFile: join(LAB_DIR, 'oidc', 'oidc.pid'),
  logFile: join(LAB_DIR, 'oidc', 'oidc.log'),
};
/** The identity provider serves HTTPS on the Sovereign's private CA. */
export const OIDC_ISSUER = `https://${clusterHost(PORTS.oidc)}`;

export async function startOidc(log: Log): Promise<void> {
  const config: LabOidcConfig = {
    address: NET.cluster.ip,
    port: PORTS.oidc,
    ...OIDC_CLIENT,
    redirectURIs: API_PORTS.flatMap((port) => [
      `http://127.0.0.1:${port}/auth/callback`,
      `http://localhost:${port}/auth/callback`,
    ]),
    users: OIDC_USERS,
    cookieKey: 'lab-oidc-cookie-key',
    tls: (ensurePeersPki(), PEERS_CERT),
  };
  mkdirSync(oidcDaemon.dir, { recursive: true });
  writeFileSync(join(oidcDaemon.dir, 'config.json'), JSON.stringify(config, null, 2));
  const state = startDaemon({
    ...oidcDaemon,
    command: process.execPath,
    args: [join(import.meta.dirname, 'main.ts'), join(oidcDaemon.dir, 'config.json')],
  });
  await waitUntil(
    'lab OIDC provider',
    () => httpOk(`${OIDC_ISSUER}/.well-known/openid-configuration`, (s) => s === 200),
    20_000,
    oidcDaemon,
  );
  log(`  lab OIDC provider ${OIDC_ISSUER}: ${state}`);
}

export async function stopOidc(): Promise<void> {
  await stopDaemon(oidcDaemon.pidFile);
}
