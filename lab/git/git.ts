// The upstream Git peer as a lab daemon: main.ts (`git http-backend` behind a small gateway)
// serving the bare repositories under .lab/git/repos, the GitOps repo among them.
import { join } from 'node:path';
import { httpOk, startDaemon, stopDaemon, waitUntil } from '../processes.ts';
import { GITOPS, LAB_DIR, NET, PORTS } from '../topology.ts';
import { ensurePeersPki, PEERS_CERT } from '../peers-pki.ts';

/** Every bare repository below this is served by the upstream Git. */
export const GIT_ROOT = join(LAB_DIR, 'git', 'repos');
/** Where the authored GitOps repo lives, as the upstream Git serves it. */
export const GITOPS_BARE_DIR = join(GIT_ROOT, GITOPS.org, `${GITOPS.repo}.git`);
// HTTPS, as GitHub: with a certificate the lab's private CA signed.
const daemon = {
  name: 'upstream git',
  command: process.execPath,
  args: [
    join(import.meta.dirname, 'main.ts'),
    GIT_ROOT,
    NET.internet.ip,
    String(PORTS.git),
    PEERS_CERT.cert,
    PEERS_CERT.key,
  ],
  pidFile: join(LAB_DIR, 'git', 'git.pid'),
  logFile: join(LAB_DIR, 'git', 'git.log'),
};

/** Started (or found running) once `repoURL` answers a clone's first request. */
export async function startGit(repoURL: string): Promise<'started' | 'running'> {
  ensurePeersPki();
  const state = startDaemon(daemon);
  await waitUntil(
    'upstream git',
    () => httpOk(`${repoURL}/info/refs?service=git-upload-pack`, (s) => s === 200),
    10_000,
    daemon,
  );
  return state;
}

export async function stopGit(): Promise<boolean> {
  return await stopDaemon(daemon.pidFile, daemon);
}
