// The upstream peers a tethered Sovereign depends on — the registries (ghcr, docker, quay stand-ins),
// upstream Git and the mothership Harbor — brought up, and cut: `cut-upstream` stops exactly these,
// local peers stay up. Used by `lab up`/`down`, the `lab` commands, tests and the lab kubelet's
// egress enforcement.
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { HarborApi } from '../src/adapters/harbor/harbor-api.ts';
import { seedCorpus } from './corpus/seed.ts';
import type { CorpusSize, UpstreamName } from './corpus/spec.ts';
import { CUT_MARKER, endpoints, UPSTREAM_NAMES, upstreamRegistry } from './endpoints.ts';
import { GITOPS_BARE_DIR, startGit, stopGit } from './git/git.ts';
import { ensureGitopsRepo } from './git/gitops-repo.ts';
import { startHarbor, stopHarbor } from './harbor/harbor.ts';
import { withLock } from './processes.ts';
import { registryUrl, startRegistry, stopRegistry } from './registry.ts';
import { timed, type Log } from './timed.ts';
import {
  ENDPOINTS_FILE,
  internetHost,
  LAB_DIR,
  MOTHERSHIP_ADMIN,
  MOTHERSHIP_PROXY_PROJECTS,
  PORTS,
  UPSTREAMS,
} from './topology.ts';

// Tests, the lab kubelet (egress enforcement) and `lab` commands may cut or restore at once.
export const UPSTREAM_LOCK = join(LAB_DIR, 'run', 'upstream.lock');

export async function startUpstreams(log: Log, corpus: CorpusSize): Promise<void> {
  for (const name of UPSTREAM_NAMES) {
    await timed(
      log,
      `upstream registry ${name} (stands for ${UPSTREAMS[name].standsFor}) on ${internetHost(UPSTREAMS[name].port)}`,
      () => startRegistry(upstreamRegistry(name)),
    );
  }
  const registries = Object.fromEntries(UPSTREAM_NAMES.map((n) => [n, registryUrl(upstreamRegistry(n))])) as Record<
    UpstreamName,
    string
  >;
  await seedCorpus(corpus, registries, join(LAB_DIR, `corpus-${corpus}.json`), log);
  const e = endpoints();
  await timed(log, 'upstream GitOps repo', async () => ensureGitopsRepo({ bareDir: GITOPS_BARE_DIR, e }));
  await timed(log, `upstream git (git http-backend) on ${internetHost(PORTS.git)}`, () => startGit(e.git.repoURL));
  await startHarbor('mothership', log);
  await provisionMothership(log);
}

export async function stopUpstreams(): Promise<void> {
  await stopHarbor('mothership');
  await stopGit();
  for (const name of UPSTREAM_NAMES) await stopRegistry(upstreamRegistry(name));
}

/** The vendor Harbor every tethered node pulls through: one proxy-cache project per upstream. */
async function provisionMothership(log: Log): Promise<void> {
  const e = endpoints();
  const harbor = new HarborApi(e.mothership.url, MOTHERSHIP_ADMIN);
  for (const upstream of UPSTREAM_NAMES) {
    const project = MOTHERSHIP_PROXY_PROJECTS[upstream];
    const registryName = `${project}-upstream`;
    await harbor.createRegistry({ name: registryName, type: 'docker-registry', url: e.upstreams[upstream].url });
    const registry = await harbor.registryByName(registryName);
    if (!registry) throw new Error(`mothership: registry ${registryName} not found after create`);
    await harbor.createProject(project, registry.id);
  }
  log(`  mothership proxy projects: ${Object.values(MOTHERSHIP_PROXY_PROJECTS).join(', ')}`);
}

/** Makes every upstream peer (registries, Git, mothership) unreachable; local peers stay up. */
export async function cutUpstream(log: Log = console.log): Promise<void> {
  await withLock(UPSTREAM_LOCK, async () => {
    writeFileSync(CUT_MARKER, new Date().toISOString());
    await stopUpstreams();
    writeFileSync(ENDPOINTS_FILE, JSON.stringify(endpoints(), null, 2));
  });
  log('upstream cut: ghcr/docker/quay stand-ins, upstream git and the mothership Harbor are unreachable');
}

export async function restoreUpstream(log: Log = console.log): Promise<void> {
  await withLock(UPSTREAM_LOCK, async () => {
    await startUpstreams(log, 'small');
    rmSync(CUT_MARKER, { force: true });
    writeFileSync(ENDPOINTS_FILE, JSON.stringify(endpoints(), null, 2));
  });
  log('upstream restored');
}
