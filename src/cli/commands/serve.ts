// `cutover serve`: the API, the console and the in-process engine (jobs executor). Runs as the
// dormant install's Deployment; safe with several replicas (Lease) and resumes after a restart.
import { hostname } from 'node:os';
import { serve } from '@hono/node-server';
import { kubeStatus, type KubeCluster } from '../../adapters/kube/cluster.ts';
import {
  approveIntake,
  buildEngine,
  requestAbort,
  rollbackCutover,
  rollbackPreview,
  runUnderWay,
  clusterPinWatch,
  decisionRecorder,
  intakeMirrorPins,
  mirrorObserver,
  reapStrayHolds,
  sharedSessionKey,
  statusStore,
  takeInventory,
} from '../../composition.ts';
import { CutoverError } from '../../core/errors.ts';
import type { Values } from '../../core/values.ts';
import { CutoverService } from '../../http/cutover-service.ts';
import { CutoverMetrics } from '../../http/metrics.ts';
import { OidcLogin } from '../../http/oidc-login.ts';
import { buildApp } from '../../http/server.ts';
import { SessionSealer } from '../../http/session.ts';
import { StatusFeed } from '../../http/status-feed.ts';
import { loadValues, valuesAndCluster } from './run.ts';

export interface ServeOptions {
  values: string;
  kubeconfig?: string | undefined;
  context?: string | undefined;
  namespace: string;
  listen?: string | undefined;
}

/** A secret from the environment (the Deployment maps it from a Secret), else read from the Secret itself. */
async function secretValue(
  cluster: KubeCluster,
  env: string,
  ref: { name: string; namespace: string; key: string },
  namespace: string,
): Promise<string | undefined> {
  if (process.env[env]) return process.env[env];
  const data = await cluster.secretData(ref.namespace || namespace, ref.name).catch((error: unknown) => {
    if (kubeStatus(error) === 404 || kubeStatus(error) === 403) return {} as Record<string, string>;
    throw error;
  });
  return data[ref.key] || undefined;
}

function listenAddress(values: Values, listen: string | undefined): { hostname: string; port: number } {
  if (!listen) return { hostname: values.api.bindAddress, port: values.api.port };
  const match = /^(.*):(\d+)$/.exec(listen);
  if (!match) throw new CutoverError('usage', `--listen must be HOST:PORT, not "${listen}"`);
  return { hostname: match[1] || '0.0.0.0', port: Number(match[2]) };
}

export async function serveCommand(options: ServeOptions): Promise<void> {
  const parsed = loadValues(options.values);
  const address = listenAddress(parsed, options.listen);
  if (parsed.auth.signIn && !parsed.auth.oidc.issuerURL)
    throw new CutoverError(
      'usage',
      'sign-in is on (auth.signIn) but no identity provider is configured: set auth.oidc.issuerURL, or auth.signIn: false to serve without sign-in (the internal trigger only)',
    );
  const { values, cluster } = await valuesAndCluster(parsed, options);
  const log = (line: string) => console.log(`${new Date().toISOString()} ${line}`);
  const holder = process.env.POD_NAME ?? `cutover-serve-${hostname()}-${process.pid}`;
  // One Lease holder per engine and per piece of guarded work: two of this pod's must exclude each other too.
  let holders = 0;
  const holderFor = (what: string) => `${holder}/${what}-${++holders}`;
  const store = statusStore(values, cluster, options.namespace);
  const feed = new StatusFeed(store);
  const recordDecision = decisionRecorder(values, cluster, options.namespace, holder, log);
  // The metrics and the service need each other: metrics reads `service` only when scraped, which is
  // after both exist (the server listens below), and the service counts runs on `metrics`.
  const metrics = new CutoverMetrics(
    () => feed.snapshot,
    () => service.running,
    () => service.lastTethers?.summary,
  );
  const service = new CutoverService({
    values,
    cluster,
    namespace: options.namespace,
    store,
    holder,
    log,
    buildEngine: () =>
      buildEngine({
        values,
        cluster,
        namespace: options.namespace,
        executor: 'jobs',
        holder: holderFor('engine'),
        log,
      }),
    takeInventory: () => takeInventory(cluster, values, options.namespace, false),
    reapStrayHolds: () =>
      reapStrayHolds({ values, cluster, namespace: options.namespace, holder: holderFor('reap'), log }),
    observeMirror: mirrorObserver(values, cluster, options.namespace),
    intakePins: (revision, copy, clusterImages) =>
      intakeMirrorPins(
        { values, cluster, namespace: options.namespace, holder: holderFor('intake'), log },
        revision,
        copy,
        clusterImages,
      ),
    approveIntake: (by, revision) => approveIntake(store, values, by, revision, recordDecision),
    requestAbort: (by) => requestAbort(values, cluster, options.namespace, by),
    planRollback: () => rollbackPreview(values, cluster, options.namespace),
    rollback: (by) =>
      rollbackCutover({ values, cluster, namespace: options.namespace, holder: holderFor('rollback'), log }, by),
    isRunning: () => runUnderWay(values, cluster, options.namespace),
    recordDecision,
    watchClusterPins: clusterPinWatch(values, cluster, log),
    publish: (e) => feed.publish(e),
    onOutcome: (outcome) => metrics.runs.inc({ outcome }),
  });
  // Every replica must open every other's sessions: the Deployment maps the shared key, or it is created once.
  const sessionKey =
    process.env.CUTOVER_SESSION_KEY || (await sharedSessionKey(values, cluster, options.namespace, holder));
  const login = new OidcLogin({
    ...values.auth.oidc,
    clientSecret:
      (await secretValue(cluster, 'CUTOVER_OIDC_CLIENT_SECRET', values.auth.oidc.clientSecretRef, options.namespace)) ??
      '',
  });
  const app = buildApp({ values, service, feed, metrics, login, sealer: new SessionSealer(sessionKey), log });
  // The install ships the status ConfigMap without data (so upgrades never reset it): fill in what it lacks.
  await store
    .ensure()
    .catch((error: unknown) => log(`status ConfigMap: ${error instanceof Error ? error.message : String(error)}`));
  await feed.start();
  const server = serve({ fetch: app.fetch, hostname: address.hostname, port: address.port });
  await new Promise<void>((resolve, reject) => {
    server.once('listening', resolve);
    server.once('error', reject);
  });
  log(`cutover serve on http://${address.hostname}:${address.port} (namespace ${options.namespace}, holder ${holder})`);
  service.startReconciling(5_000);
  await new Promise<void>((resolve) => {
    for (const signal of ['SIGTERM', 'SIGINT'] as const) process.once(signal, () => resolve());
  });
  service.stop();
  if (service.guarding) {
    // A guard pass is short: let it end and release the Lease, or the next replica waits a whole Lease for it.
    await Promise.race([service.settled(), new Promise((resolve) => setTimeout(resolve, 10_000).unref())]);
  }
  log('shutting down: the Lease expires and another replica (or this one, restarted) resumes the run');
  feed.stop();
  server.close();
  process.exit(0);
}
