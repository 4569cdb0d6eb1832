// The composition root: the one place that builds real adapters — from values, the Secrets they
// name, and a Kubernetes connection.
import { createHash, randomBytes } from 'node:crypto';
import type { KubernetesObject } from '@kubernetes/client-node';
import { serverSideApply } from './adapters/kube/apply.ts';
import { GiteaForge } from './adapters/gitea/gitea-forge.ts';
import { HarborApi } from './adapters/harbor/harbor-api.ts';
import { KubeCluster } from './adapters/kube/cluster.ts';
import { recordDecision, type Decision } from './adapters/kube/events.ts';
import { watchPodImages } from './adapters/kube/pod-images.ts';
import { upstreamHosts } from './inventory/upstream-hosts.ts';
import { parseImageRef } from './core/image-ref.ts';
import { approve, intakeWindow, windowSummary, type IntakeWindow } from './core/intake-window.ts';
import { CutoverError, PeerError, redact } from './core/errors.ts';
import type { MirrorObservation } from './core/mirror-health.ts';
import { parseDockerConfig, registryCredentials, type DockerConfig } from './core/docker-config.ts';
import type { Values } from './core/values.ts';
import type { Change, Step, StepContext } from './core/step.ts';
import type { JournalEntry } from './core/journal.ts';
import { rollback, rollbackPlan, type RollbackResult } from './steps/rollback.ts';
import { preflight } from './steps/preflight.ts';
import type { CheckResult } from './core/check.ts';
import {
  isGuardPass,
  RUNNER,
  STEP_IDS,
  TETHERS_COMPONENT,
  tethersConfigMap,
  type AgentConfig,
} from './core/contracts.ts';
import { imageFor } from './render/render.ts';
import { ABORT_KEYS, Engine } from './engine/engine.ts';
import { discoverSteps, type DiscoveredStep } from './engine/discovery.ts';
import { JobsExecutor } from './engine/jobs-executor.ts';
import { LocalExecutor } from './engine/local-executor.ts';
import { liveHolder, SingleFlight } from './engine/single-flight.ts';
import { StatusStore } from './adapters/kube/status-store.ts';
import { JournalStore } from './adapters/kube/journal-store.ts';
import { NodeReports } from './adapters/kube/node-reports.ts';
import { PackedConfigMap } from './adapters/kube/packed-config-map.ts';
import { CHAIN, stepNamed } from './steps/catalogue.ts';
import { holdsLeft, removeHolds } from './steps/egress-block-test.ts';
import { observeMirror } from './steps/gitea-mirror.ts';
import { intakePins } from './steps/pin-radar.ts';
import type { PinReport } from './core/pin-status.ts';
import type { Credentials, Registries, StepEnv } from './steps/env.ts';
import { presentByDigest } from './adapters/oci/completeness.ts';
import { DistributionClient } from './adapters/oci/distribution-client.ts';
import type { HostProject } from './core/values.ts';
import { digestResolver, TetherInventory, type Tether, type TetherSummary } from './inventory/tethers.ts';

export interface EngineSetup {
  values: Values;
  cluster: KubeCluster;
  namespace: string;
  /** local: every step in this process; jobs: the chain the step ConfigMaps declare, job-mode steps as Jobs. */
  executor: 'local' | 'jobs';
  /** Who holds the single-flight Lease while this engine runs. */
  holder: string;
  /** Aborted to stop the run (the CLI's SIGTERM / Ctrl-C). */
  stop?: AbortSignal;
  log: (line: string) => void;
}

/** The engine for one run: discovery (jobs), the steps' adapters, the status store and a fresh Lease. */
export async function buildEngine(setup: EngineSetup): Promise<Engine<StepEnv>> {
  const { values, cluster, namespace } = setup;
  const discovered = setup.executor === 'jobs' ? await installedSteps(values, cluster, namespace) : undefined;
  const steps = discovered ? discovered.map((d) => stepNamed(d.stepName) as Step<StepEnv>) : CHAIN;
  const lease = new SingleFlight(cluster, namespace, setup.holder);
  // Nothing runs twice at once: a live holder is reported before any Secret is read.
  await lease.acquire();
  try {
    const env = await buildStepEnv(values, cluster, namespace);
    return new Engine({
      values,
      env,
      steps,
      requiredSteps: STEP_IDS,
      store: env.status,
      lease,
      executor: discovered
        ? new JobsExecutor<StepEnv>(cluster, namespace, discovered, Math.floor(Date.now() / 1000))
        : new LocalExecutor<StepEnv>(),
      log: setup.log,
      ...(setup.stop ? { stop: setup.stop } : {}),
      remainingTethers: async () =>
        (await takeInventory(cluster, values, namespace, false)).tethers
          .filter((t) => t.state === 'tethered' || t.state === 'unmapped')
          .map((t) => `${t.state} ${t.object} ${t.field} → ${t.upstream}`),
    });
  } catch (error) {
    await lease.release();
    throw error;
  }
}

/**
 * The step ConfigMaps the install ships, each pod spec rebuilt under the install's policy, each naming
 * a step of the cutover; CutoverError 'no-steps-found' / 'invalid-step-configmap' otherwise. The API
 * checks it before it requests a start (ADR 0021); the engine runs them.
 */
export async function installedSteps(
  values: Values,
  cluster: KubeCluster,
  namespace: string,
): Promise<DiscoveredStep[]> {
  const discovered = await discoverSteps(cluster, namespace, {
    images: [...new Set([values.images.cutover, imageFor(values, 'post')])],
    serviceAccount: RUNNER,
  });
  for (const d of discovered)
    if (!stepNamed(d.stepName))
      throw new CutoverError(
        'invalid-step-configmap',
        `step ConfigMap ${d.configMap} names step "${d.stepName}", which is not a step of the cutover`,
      );
  return discovered;
}

/** Who holds the single-flight Lease now, if anyone. */
export async function leaseHolder(cluster: KubeCluster, namespace: string): Promise<string | undefined> {
  return await liveHolder(cluster, namespace);
}

/** Where the controller writes the tether inventory for the API (ADR 0021). */
export function tethersStore(values: Values, cluster: KubeCluster, namespace: string): PackedConfigMap {
  return new PackedConfigMap(cluster, namespace, tethersConfigMap(values.status.configMapName), TETHERS_COMPONENT);
}

export async function buildStepEnv(values: Values, cluster: KubeCluster, namespace: string): Promise<StepEnv> {
  const gitea = await secretKeys(cluster, values.gitea.adminSecretRef, [
    values.gitea.adminSecretRef.usernameKey,
    values.gitea.adminSecretRef.passwordKey,
  ]);
  const harbor = await secretKeys(cluster, values.harbor.adminSecretRef, [
    values.harbor.adminSecretRef.usernameKey,
    values.harbor.adminSecretRef.passwordKey,
  ]);
  const harborCredentials = { username: harbor[0], password: harbor[1] };
  const upstreamAuths = await dockerAuths(cluster, values);
  const gitRef = values.upstream.credentialsSecretRef;
  const upstreamGit = gitRef.name
    ? await secretKeys(cluster, { name: gitRef.name, namespace: gitRef.namespace || namespace }, [
        gitRef.usernameKey,
        gitRef.passwordKey,
      ]).then(([username, password]) => ({
        username,
        password,
      }))
    : undefined;
  const status = statusStore(values, cluster, namespace);
  return {
    cluster,
    namespace,
    forge: new GiteaForge(values.sovereign.giteaInternalURL, { username: gitea[0], password: gitea[1] }),
    harbor: new HarborApi(values.sovereign.harborInternalURL, harborCredentials),
    harborCredentials,
    upstreamAuths,
    upstreamGit,
    registries: registryClients(values, harborCredentials, upstreamAuths),
    status,
    journal: new JournalStore(cluster, status),
  };
}

/** The local Harbor's registry client and one client per upstream host, made once and reused. */
function registryClients(
  values: Values,
  harborCredentials: Credentials,
  upstreamAuths: Map<string, Credentials>,
): Registries {
  const upstreams = new Map<string, DistributionClient>();
  return {
    local: new DistributionClient(values.sovereign.harborInternalURL, harborCredentials),
    upstream(row: HostProject): DistributionClient {
      let client = upstreams.get(row.host);
      if (!client)
        upstreams.set(row.host, (client = new DistributionClient(row.upstreamURL, upstreamAuths.get(row.host))));
      return client;
    },
  };
}

/**
 * Removes egress hold policies no run owns (an engine that crashed mid-window): when there are any,
 * under the single-flight Lease (a live run is left alone: CutoverError 'in-progress'). Returns how
 * many policies went.
 */
export async function reapStrayHolds(setup: Omit<EngineSetup, 'executor' | 'stop'>): Promise<number> {
  if (!(await holdsLeft(setup.cluster))) return 0;
  return await underLease(setup, 60_000, (ctx) => removeHolds(ctx));
}

/**
 * Work of the serving process that must not overlap a run (or another replica's turn): under the
 * single-flight Lease (CutoverError 'in-progress' while another holds it), with the steps' environment.
 */
async function underLease<T>(
  setup: Omit<EngineSetup, 'executor'>,
  deadlineMs: number,
  work: (ctx: StepContext<StepEnv>) => Promise<T>,
  /** How long to wait for a holder that is not a run (a guard pass, an intake look) to let go. */
  patienceMs = 0,
): Promise<T> {
  const { values, cluster, namespace } = setup;
  const lease = new SingleFlight(cluster, namespace, setup.holder);
  for (const until = Date.now() + patienceMs; ; await new Promise((r) => setTimeout(r, 1000))) {
    try {
      await lease.acquire();
      break;
    } catch (error) {
      if (!(error instanceof CutoverError && error.code === 'in-progress') || Date.now() > until) throw error;
    }
  }
  try {
    const env = await buildStepEnv(values, cluster, namespace);
    const signal = AbortSignal.any([
      AbortSignal.timeout(deadlineMs),
      lease.signal,
      ...(setup.stop ? [setup.stop] : []),
    ]);
    return await work({ values, env, log: setup.log, signal });
  } finally {
    await lease.release();
  }
}

/**
 * Asks the running cutover to stop (`cutover abort`, the API, the console): a status request the
 * engine holding the Lease sees within seconds, wherever it runs. Returns who is running it, or
 * undefined when nothing runs (then nothing is written).
 */
export async function requestAbort(
  values: Values,
  cluster: KubeCluster,
  namespace: string,
  by: string,
): Promise<string | undefined> {
  const holder = await liveHolder(cluster, namespace);
  if (!holder) return undefined;
  await statusStore(values, cluster, namespace).patch({
    [ABORT_KEYS.requestedAt]: new Date().toISOString(),
    [ABORT_KEYS.requestedBy]: by,
  });
  return holder;
}

/** Whether anything holds the single-flight Lease (a run, a rollback, the guard). */
export async function cutoverRunning(cluster: KubeCluster, namespace: string): Promise<boolean> {
  return (await liveHolder(cluster, namespace)) !== undefined;
}

/**
 * What runs, when a run or a rollback (not a guard pass) is under way: the Lease is held and the status
 * names a running step or rollback.
 */
export async function runUnderWay(
  values: Values,
  cluster: KubeCluster,
  namespace: string,
): Promise<string | undefined> {
  const status = (await statusStore(values, cluster, namespace).read()) ?? {};
  const what =
    status.rollbackResult === 'running' ? 'a rollback' : status.currentStep ? `step ${status.currentStep}` : '';
  const holder = what ? await liveHolder(cluster, namespace) : undefined;
  // A guard pass names steps too, for seconds: the rollback waits for it under the Lease instead.
  return holder && !isGuardPass(holder) ? `${what} (held by ${holder})` : undefined;
}

/**
 * `cutover check` (steps/preflight.ts); `quick`: the checks `cutover run` runs first. Credentials
 * that cannot be read fail as one check: nothing else can be asked of the peers then.
 */
export async function runChecks(
  values: Values,
  cluster: KubeCluster,
  namespace: string,
  quick = false,
): Promise<CheckResult[]> {
  let env: StepEnv;
  try {
    env = await buildStepEnv(values, cluster, namespace);
  } catch (error) {
    return [
      {
        name: 'credentials',
        status: 'fail',
        blocking: true,
        detail: redact(`the Secrets the values name cannot be read: ${(error as Error).message}`),
      },
    ];
  }
  return await preflight({ values, env, log: () => {}, signal: AbortSignal.timeout(120_000) }, { quick });
}

/** How long a rollback may take, nodes and Flux re-applies included. */
const ROLLBACK_DEADLINE_MS = 15 * 60_000;

/**
 * `cutover rollback` (steps/rollback.ts): under the single-flight Lease, so no run or guard changes
 * anything meanwhile; `by` is recorded in the status.
 */
export async function rollbackCutover(
  setup: Omit<EngineSetup, 'executor'>,
  by: string,
  options: { purge?: boolean } = {},
): Promise<RollbackResult> {
  // A run holding the Lease is refused by the caller (its status says so); a guard pass lets go within seconds.
  return await underLease(setup, ROLLBACK_DEADLINE_MS, (ctx) => rollback(ctx, CHAIN, by, options), 60_000);
}

/** What a rollback would undo now, one line per change (nothing is written, no Lease taken). */
export async function rollbackPreview(
  values: Values,
  cluster: KubeCluster,
  namespace: string,
  purge = false,
): Promise<Change[]> {
  const status = statusStore(values, cluster, namespace);
  return await rollbackPlan({ values, env: { cluster, status, journal: new JournalStore(cluster, status) } }, purge);
}

/** The journal, oldest entry first (`cutover journal`). */
export async function journalEntries(values: Values, cluster: KubeCluster, namespace: string): Promise<JournalEntry[]> {
  return await new JournalStore(cluster, statusStore(values, cluster, namespace)).entries();
}

/** The Kubernetes connection: `kubeconfig`, else $KUBECONFIG / ~/.kube/config / in-cluster; `context` as kubectl's --context. */
export function connectCluster(kubeconfig?: string, context?: string): KubeCluster {
  return KubeCluster.connect(kubeconfig, context);
}

/**
 * The key that seals operator sessions, shared by every replica: the Secret's, else created once with
 * a random key — server-side apply without force under this replica's own field manager, so of two
 * replicas starting together the second gets a conflict instead of replacing the first's key — and read
 * back: every replica uses what the Secret holds.
 */
export async function sharedSessionKey(
  values: Values,
  cluster: KubeCluster,
  namespace: string,
  holder: string,
): Promise<string> {
  const ref = values.auth.sessionKeySecretRef;
  const ns = ref.namespace || namespace;
  const read = async () => (await cluster.secretDataIfExists(ns, ref.name))?.[ref.key];
  const existing = await read();
  if (existing) return existing;
  const secret = {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name: ref.name, namespace: ns, labels: { 'app.kubernetes.io/part-of': 'self-sovereign-cutover' } },
    type: 'Opaque',
    stringData: { [ref.key]: randomBytes(32).toString('base64url') },
  };
  const manager = `sovereign-cutover-session-${createHash('sha256').update(holder).digest('hex').slice(0, 12)}`;
  await serverSideApply(cluster.config, [secret as KubernetesObject], manager, { force: false }).catch(
    (error: unknown) => {
      if (!(error instanceof PeerError && error.status === 409)) throw error;
    },
  );
  const key = await read();
  if (!key) throw new CutoverError('read-back', `Secret ${ns}/${ref.name} has no ${ref.key} after it was written`);
  return key;
}

export function statusStore(values: Values, cluster: KubeCluster, namespace: string): StatusStore {
  return statusConfigMap(cluster, namespace, values.status.configMapName);
}

/** The status ConfigMap by name (`cutover status --configmap`). */
export function statusConfigMap(cluster: KubeCluster, namespace: string, name: string): StatusStore {
  return new StatusStore(cluster, namespace, name);
}

/** The node agent's status ConfigMap and its own report, through the pod's in-cluster ServiceAccount. */
export function agentStores(config: AgentConfig): { status: StatusStore; reports: NodeReports } {
  const cluster = connectCluster();
  return {
    status: statusConfigMap(cluster, config.namespace, config.statusConfigMap),
    reports: new NodeReports(cluster, config.reportNamespace),
  };
}

async function secretKeys(
  cluster: KubeCluster,
  ref: { name: string; namespace: string },
  keys: [string, string],
): Promise<[string, string]> {
  const data = await cluster.secretData(ref.namespace, ref.name);
  const missing = keys.filter((k) => !data[k]);
  if (missing.length)
    throw new CutoverError('missing-secret-key', `Secret ${ref.namespace}/${ref.name} has no ${missing.join(', ')}`);
  return [data[keys[0]] as string, data[keys[1]] as string];
}

/** Upstream registry credentials by host, from the dockerconfigjson Secret; absent Secret = none. */
async function dockerAuths(cluster: KubeCluster, values: Values): Promise<Map<string, Credentials>> {
  const ref = values.harbor.ghcrSecretRef;
  // No pull Secret means anonymous upstreams; any other failure (403, 5xx) must not pass as that.
  const data = (await cluster.secretDataIfExists(ref.namespace, ref.name)) ?? {};
  const text = data[ref.dockerConfigKey];
  if (!text) return new Map();
  let parsed: DockerConfig;
  try {
    parsed = parseDockerConfig(text);
  } catch {
    throw new CutoverError('invalid-secret', `Secret ${ref.namespace}/${ref.name}: ${ref.dockerConfigKey} is not JSON`);
  }
  return registryCredentials(parsed);
}

/** The inventory with digests resolved and local presence checked through the registries. */
export async function takeInventory(
  cluster: KubeCluster,
  values: Values,
  namespace: string,
  secrets: boolean,
): Promise<{ tethers: Tether[]; summary: TetherSummary }> {
  const env = await buildStepEnv(values, cluster, namespace);
  const { local } = env.registries;
  const resolve = digestResolver(local, (row) => env.registries.upstream(row));
  const inventory = new TetherInventory(cluster, values, {
    secrets,
    resolveDigest: resolve,
    presentLocally: async (ref, repo) => {
      const digest = await local.headManifest(repo, ref).then((h) => h?.digest);
      return digest ? presentByDigest(local, repo, ref, digest) : false;
    },
  });
  const tethers = await inventory.collect(namespace);
  return { tethers, summary: inventory.summary() };
}

/** The Git mirror's health look for `cutover serve` (ADR 0016); the Gitea client is built once, on first use. */
export function mirrorObserver(
  values: Values,
  cluster: KubeCluster,
  namespace: string,
): () => Promise<MirrorObservation> {
  let env: Promise<StepEnv> | undefined;
  return async () => {
    env ??= buildStepEnv(values, cluster, namespace);
    try {
      const { forge, upstreamGit } = await env;
      return await observeMirror(values, forge, upstreamGit);
    } catch (error) {
      env = undefined; // the Gitea credential could not be read: try again next time
      return { at: new Date(), error: redact(error instanceof Error ? error.message : String(error)) };
    }
  };
}

/**
 * The pin radar's intake for `cutover serve` (ADR 0017): under the Lease, so exactly one replica copies;
 * throws CutoverError 'in-progress' while another holds it.
 */
export async function intakeMirrorPins(
  setup: Omit<EngineSetup, 'executor' | 'stop'>,
  revision: string,
  copy: boolean,
  clusterImages?: string[],
): Promise<PinReport> {
  return await underLease(setup, setup.values.stepTimeouts.harborPrewarmSeconds * 1000, (ctx) =>
    intakePins(ctx, revision, copy, clusterImages),
  );
}

/** Records a guard decision as a Kubernetes Event on the status ConfigMap; a failure is logged, never thrown. */
export function decisionRecorder(
  values: Values,
  cluster: KubeCluster,
  namespace: string,
  instance: string,
  log: (line: string) => void,
): (d: Decision) => Promise<void> {
  return async (d) => {
    await recordDecision(cluster, namespace, values.status.configMapName, instance, d).catch((error: unknown) =>
      log(`event ${d.reason}: ${redact(error instanceof Error ? error.message : String(error))}`),
    );
  };
}

/**
 * `intake.mode: request` (ADR 0018): an operator approves the pending revision — from the console,
 * the API or `cutover intake approve` — which opens its delivery window (compare-and-swap on the
 * status, so a concurrent write is not lost) and records the approval as an Event. Undefined when a
 * window is open for it already.
 */
export async function approveIntake(
  store: StatusStore,
  values: Values,
  by: string,
  revision: string | undefined,
  record: (d: Decision) => Promise<void>,
): Promise<IntakeWindow | undefined> {
  const status = await store.readVersioned();
  if (!status) throw new CutoverError('status-read-failed', 'the status ConfigMap does not exist');
  const patch = approve(values, status.data, by, new Date(), revision);
  if (!patch) return undefined;
  if (!(await store.patchIfUnchanged(status.version, patch)))
    throw new CutoverError('status-conflict', 'the status changed while approving; approve again');
  const window = intakeWindow(patch)!;
  await record({ reason: 'IntakeApproved', action: 'Approve', type: 'Normal', note: windowSummary(window) });
  return window;
}

/**
 * The cluster's new upstream images as they appear (a Pod watch), for `cutover serve`'s intake: a
 * workload applied by hand is looked at within a second or two, not at the next full sweep.
 */
export function clusterPinWatch(
  values: Values,
  cluster: KubeCluster,
  log: (line: string) => void,
): (nudge: (images: string[]) => void, signal: AbortSignal) => void {
  const local = upstreamHosts(values).local;
  return (nudge, signal) =>
    watchPodImages(
      cluster,
      (images) => {
        const upstream = images.filter((i) => !local.has(parseImageRef(i).host));
        if (upstream.length) nudge(upstream);
      },
      {
        signal,
        onError: (error) => log(`pod watch: ${redact(error instanceof Error ? error.message : String(error))}`),
      },
    );
}
