// The helm CLI the lab builds (lab/peers/flux-helm), for the chart's tests and the lab's install by
// helm-controller: its config, cache and registry logins in a folder of the caller's.
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { join } from 'node:path';
import { peerBinary } from './build.ts';

export function runHelm(home: string, args: string[]): SpawnSyncReturns<string> {
  return spawnSync(peerBinary('flux-helm', 'helm'), args, {
    encoding: 'utf8',
    env: {
      ...process.env,
      HELM_CONFIG_HOME: join(home, 'config'),
      HELM_CACHE_HOME: join(home, 'cache'),
      HELM_DATA_HOME: join(home, 'data'),
    },
  });
}

/** `helm package` of a chart folder and `helm push` to an OCI repository over plain HTTP (the lab's registries); helm's words. */
export function pushChart(home: string, chartDir: string, name: string, version: string, repository: string): string {
  const helm = (...args: string[]): string => {
    const r = runHelm(home, args);
    if (r.status !== 0) throw new Error(`helm ${args[0]}: ${r.stderr}`);
    return r.stdout + r.stderr;
  };
  helm('package', chartDir, '-d', home);
  return helm('push', join(home, `${name}-${version}.tgz`), repository, '--plain-http');
}
