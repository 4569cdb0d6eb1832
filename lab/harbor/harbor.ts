// The lab's two Harbor doubles as lab daemons (main.ts, one config each): the mothership, an
// upstream peer, and the Sovereign's own local Harbor, each over its own docker-registry store.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { httpOk, startDaemon, stopDaemon, waitUntil } from '../processes.ts';
import { timed, type Log } from '../timed.ts';
import { HARBOR_ADMIN, HARBOR_SWAGGER, LAB_DIR, MOTHERSHIP_ADMIN, NET, PORTS } from '../topology.ts';
import type { HarborDoubleConfig } from './server.ts';
import { ensurePeersPki, PEERS_CERT } from '../peers-pki.ts';

// The Sovereign's own Harbor serves HTTPS on the Sovereign's private CA; the vendor's stays HTTP.
const harbors = {
  mothership: {
    name: 'mothership',
    port: PORTS.mothership,
    storePort: PORTS.mothershipStore,
    admin: MOTHERSHIP_ADMIN,
    address: NET.internet.ip,
    tls: false,
  },
  local: {
    name: 'local-harbor',
    port: PORTS.localHarbor,
    storePort: PORTS.localHarborStore,
    admin: HARBOR_ADMIN,
    address: NET.cluster.ip,
    tls: true,
  },
};

/** The URL a Harbor double serves on. */
export function harborUrl(name: HarborName): string {
  return `${harbors[name].tls ? 'https' : 'http'}://${harbors[name].address}:${harbors[name].port}`;
}
export type HarborName = keyof typeof harbors;

function harborDir(name: HarborName): string {
  return join(LAB_DIR, 'harbor', harbors[name].name);
}

export async function startHarbor(name: HarborName, log: Log): Promise<void> {
  const h = harbors[name];
  const dir = harborDir(name);
  mkdirSync(dir, { recursive: true });
  const config: HarborDoubleConfig = {
    name: h.name,
    address: h.address,
    port: h.port,
    stateDir: dir,
    storePort: h.storePort,
    admin: h.admin,
    swaggerPath: HARBOR_SWAGGER,
    ...(h.tls ? { tls: (ensurePeersPki(), PEERS_CERT) } : {}),
  };
  writeFileSync(join(dir, 'config.json'), JSON.stringify(config, null, 2));
  const daemon = harborDaemon(name);
  await timed(log, `${h.name} Harbor (API double over docker-registry) on ${harborUrl(name)}`, async () => {
    const state = startDaemon(daemon);
    await waitUntil(
      `${h.name} Harbor`,
      () => httpOk(`${harborUrl(name)}/api/v2.0/ping`, (s) => s === 200),
      20_000,
      daemon,
    );
    return state;
  });
}

function harborDaemon(name: HarborName) {
  const dir = harborDir(name);
  return {
    name: harbors[name].name,
    command: process.execPath,
    args: [join(import.meta.dirname, 'main.ts'), join(dir, 'config.json')],
    pidFile: join(dir, 'harbor.pid'),
    logFile: join(dir, 'harbor.log'),
  };
}

export async function stopHarbor(name: HarborName): Promise<void> {
  const daemon = harborDaemon(name);
  await stopDaemon(daemon.pidFile, daemon);
}
