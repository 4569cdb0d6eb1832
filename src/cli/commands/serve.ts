// `cutover serve`: the API and the console (`--role api`, its own identity), the controller that runs
// the engine with the jobs executor (`--role controller`, the runner), or both in one process (the
// default: a laptop, the tests). The two talk only through the status ConfigMap (ADR 0021); each is safe
// with several replicas (compare-and-swap, the Lease) and carries on after a restart.
import { hostname } from 'node:os';
import { serve } from '@hono/node-server';
import { kubeStatus, type KubeCluster } from '../../adapters/kube/cluster.ts';
import type { StatusStore } from '../../adapters/kube/status-store.ts';
import type { PackedConfigMap } from '../../adapters/kube/packed-config-map.ts';
import {
  approveIntake,
  buildEngine,
  installedSteps,
  clusterPinWatch,
  decisionRecorder,
  intakeMirrorPins,
  leaseHolder,
  mirrorObserver,
  reapStrayHolds,
  requestAbort,
  rollbackCutover,
  rollbackPreview,
  runUnderWay,
  sharedSessionKey,
  statusStore,
  takeInventory,
  tethersStore,
} from '../../composition.ts';
import { CutoverError } from '../../core/errors.ts';
import { SERVE_ROLES, type ServeRole } from '../choices.ts';
import { createLog, type LogFlags } from '../log.ts';
import { GUARD_HOLDER } from '../../core/contracts.ts';
import type { Values } from '../../core/values.ts';
import { packTethers, type TetherSnapshot } from '../../http/cutover-control.ts';
import { CutoverRequests } from '../../http/cutover-requests.ts';
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
  role?: ServeRole;
  log?: LogFlags;
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
  const role = options.role ?? 'all';
  if (!SERVE_ROLES.includes(role))
    throw new CutoverError('usage', `--role must be one of ${SERVE_ROLES.join(', ')}, not "${String(role)}"`);
  const parsed = loadValues(options.values);
  const address = listenAddress(parsed, options.listen);
  if (role !== 'controller' && parsed.auth.signIn && !parsed.auth.oidc.issuerURL)
    throw new CutoverError(
      'usage',
      'sign-in is on (auth.signIn) but no identity provider is configured: set auth.oidc.issuerURL, or auth.signIn: false to serve without sign-in (the internal trigger only)',
    );
  const { values, cluster } = await valuesAndCluster(parsed, options);
  const { namespace } = options;
  const log = createLog(options.log ?? {}, role === 'all' ? 'serve' : role, true);
  const holder = process.env.POD_NAME ?? `cutover-serve-${hostname()}-${process.pid}`;
  const store = statusStore(values, cluster, namespace);
  const tethers = tethersStore(values, cluster, namespace);
  const controller =
    role === 'api' ? undefined : controllerOf({ values, cluster, namespace, holder, log }, store, tethers);
  if (controller) {
    // The install ships the status ConfigMap without data (so upgrades never reset it): fill in what it lacks.
    await store
      .ensure()
      .catch((error: unknown) => log(`status ConfigMap: ${error instanceof Error ? error.message : String(error)}`));
    controller.startReconciling(5_000);
    log(`cutover controller (namespace ${namespace}, holder ${holder})`);
  }
  let stopApi = () => {};
  if (role !== 'controller') {
    const feed = new StatusFeed(store);
    const recordDecision = decisionRecorder(values, cluster, namespace, holder, log);
    const requests: CutoverRequests = new CutoverRequests({
      values,
      cluster,
      namespace,
      store,
      log,
      liveHolder: () => leaseHolder(cluster, namespace),
      runUnderWay: () => runUnderWay(values, cluster, namespace),
      checkSteps: () => installedSteps(values, cluster, namespace),
      readTethers: async () => {
        const read = await tethers.read();
        return read && { snapshot: read.document as TetherSnapshot | undefined, version: read.version };
      },
      tethersChanged: (version, timeoutMs) =>
        tethers.waitForChange(version, { signal: new AbortController().signal, timeoutMs }),
      requestAbort: (by) => requestAbort(values, cluster, namespace, by),
      approveIntake: (by, revision) => approveIntake(store, values, by, revision, recordDecision),
      planRollback: () => rollbackPreview(values, cluster, namespace),
      publish: (e) => feed.publish(e),
    });
    const metrics = new CutoverMetrics(
      () => feed.snapshot,
      () => requests.lastTethers?.summary,
    );
    // Every replica must open every other's sessions: the Deployment maps the shared key, or it is created once.
    const sessionKey = process.env.CUTOVER_SESSION_KEY || (await sharedSessionKey(values, cluster, namespace, holder));
    const clientSecret =
      (await secretValue(cluster, 'CUTOVER_OIDC_CLIENT_SECRET', values.auth.oidc.clientSecretRef, namespace)) ?? '';
    // A public client has none; a confidential one without it fails at every sign-in — say why once, here.
    if (values.auth.signIn && !clientSecret)
      log.warn(
        `no OIDC client secret: neither CUTOVER_OIDC_CLIENT_SECRET nor Secret ${values.auth.oidc.clientSecretRef.namespace || namespace}/${values.auth.oidc.clientSecretRef.name} (key ${values.auth.oidc.clientSecretRef.key}) gave one; sign-in works only for a public client`,
      );
    const login = new OidcLogin({ ...values.auth.oidc, clientSecret });
    const app = buildApp({
      values,
      service: requests,
      feed,
      metrics,
      login,
      sealer: new SessionSealer(sessionKey),
      log,
    });
    await feed.start();
    const server = serve({ fetch: app.fetch, hostname: address.hostname, port: address.port });
    await new Promise<void>((resolve, reject) => {
      server.once('listening', resolve);
      server.once('error', reject);
    });
    log(`cutover API on http://${address.hostname}:${address.port} (namespace ${namespace}, role ${role})`);
    stopApi = () => {
      feed.stop();
      server.close();
    };
  }
  await new Promise<void>((resolve) => {
    for (const signal of ['SIGTERM', 'SIGINT'] as const) process.once(signal, () => resolve());
  });
  if (controller) {
    controller.stop();
    if (controller.guarding) {
      // A guard pass is short: let it end and release the Lease, or the next replica waits a whole Lease for it.
      await Promise.race([controller.settled(), new Promise((resolve) => setTimeout(resolve, 10_000).unref())]);
    }
    log('shutting down: the Lease expires and another replica (or this one, restarted) resumes the run');
  }
  stopApi();
  process.exit(0);
}

/** The controller: the engine, the guard, the intake, rollbacks and the inventory, as the runner. */
function controllerOf(
  setup: { values: Values; cluster: KubeCluster; namespace: string; holder: string; log: (line: string) => void },
  store: StatusStore,
  tethers: PackedConfigMap,
): CutoverService {
  const { values, cluster, namespace, holder, log } = setup;
  // One Lease holder per engine and per piece of guarded work: two of this pod's must exclude each other too.
  let holders = 0;
  const holderFor = (what: string) => `${holder}/${what}-${++holders}`;
  return new CutoverService({
    values,
    namespace,
    store,
    holder,
    log,
    // A guard pass holds the Lease under a name that says so: the API does not refuse a rollback for it.
    buildEngine: (purpose) =>
      buildEngine({
        values,
        cluster,
        namespace,
        executor: 'jobs',
        holder: holderFor(purpose === 'guard' ? GUARD_HOLDER : 'engine'),
        log,
      }),
    takeInventory: () => takeInventory(cluster, values, namespace, false),
    writeTethers: (snapshot) => tethers.write(packTethers(snapshot), 'sovereign-cutover'),
    reapStrayHolds: () => reapStrayHolds({ values, cluster, namespace, holder: holderFor('reap'), log }),
    observeMirror: mirrorObserver(values, cluster, namespace),
    intakePins: (revision, copy, clusterImages) =>
      intakeMirrorPins({ values, cluster, namespace, holder: holderFor('intake'), log }, revision, copy, clusterImages),
    rollback: (by) => rollbackCutover({ values, cluster, namespace, holder: holderFor('rollback'), log }, by),
    recordDecision: decisionRecorder(values, cluster, namespace, holder, log),
    watchClusterPins: clusterPinWatch(values, cluster, log),
  });
}
