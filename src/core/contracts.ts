// The wire contracts shared by every part (and byte-compatible with openova's chart and engine):
// step ids and their seed order, the status ConfigMap's keys, the labels and names of what the
// install creates, and the node agent's config and report. One module, so a contract changes in
// one place; pure data and key builders, no I/O.
import type { HostProject } from './values.ts';

/** The chain in seed (0.1.14) order. */
export const STEP_IDS = [
  'gitea-mirror',
  'harbor-projects',
  'harbor-prewarm',
  'registry-pivot',
  'flux-gitrepository-patch',
  'helmrepository-patches',
  'catalyst-api-env-patch',
  'egress-block-test',
] as const;
export type StepId = (typeof STEP_IDS)[number];

/** When a step runs relative to the node pivot: its pod pulls from upstream before, from `global.imageRegistry` after. */
export type Phase = 'pre' | 'pivot' | 'post';
export const STEP_PHASES: Record<StepId, Phase> = {
  'gitea-mirror': 'pre',
  'harbor-projects': 'pre',
  'harbor-prewarm': 'pre',
  'registry-pivot': 'pivot',
  'flux-gitrepository-patch': 'post',
  'helmrepository-patches': 'post',
  'catalyst-api-env-patch': 'post',
  'egress-block-test': 'post',
};

// --- the status ConfigMap (`self-sovereign-cutover-status`): strings only, merge-patched on `.data`
export type StatusData = Record<string, string>;
export type StepResult = '' | 'running' | 'success' | 'failed';
export type RegistriesYaml = 'v1' | 'v2' | 'rollback';

export const stepKey = (step: string, field: 'startedAt' | 'finishedAt' | 'result' | 'jobName'): string =>
  `step.${step}.${field}`;
/** When a rerun last re-verified a `success` step (held), and when it last found it drifted and ran it again. */
export const recheckKey = (step: string, field: 'recheckedAt' | 'repairedAt' | 'drift'): string =>
  `step.${step}.${field}`;
/** The node agent's ack of `registriesYamlActive`. */
export const nodeAckKey = (node: string): string => `node.${node}.registriesYaml`;
/** The node agent's report: JSON {upstream host: the endpoint the node's containerd resolves it through}. */
export const nodeRegistryKey = (node: string): string => `node.${node}.registryHosts`;
/** The node a per-node status key is about (`node.<name>.…`), if it is one. */
export const nodeOfKey = (key: string): string | undefined =>
  /^node\.(.+)\.(?:registriesYaml|registryHosts)$/.exec(key)?.[1];
/** What a node's agent reports under `nodeRegistryKey`: "" = the host itself, "unreadable" = a hosts.toml it cannot parse. */
export type AgentRegistryReport = Record<string, string>;

// --- the run's event phases (SSE `event:` names, as the original's)
export type RunPhase =
  | 'cutover-started'
  | 'cutover-step-progress'
  | 'cutover-step-started'
  | 'cutover-step-finished'
  | 'cutover-step-failed'
  | 'cutover-completed'
  | 'cutover-already-complete'
  | 'cutover-status';

/**
 * The auto trigger's keys in the status ConfigMap: written by the service, reported by the status
 * route, kept by a rollback (the trigger fires once ever).
 */
export const AUTO_KEYS = {
  armedAt: 'autoTriggerArmedAt',
  armedBy: 'autoTriggerArmedBy',
  dueAt: 'autoTriggerDueAt',
  firedAt: 'autoTriggerFiredAt',
} as const;

/**
 * Operator intent the API writes into the status ConfigMap and the controller takes (ADR 0021): a
 * request is pending while its `…At` key is non-empty; the controller empties it (compare-and-swap) as
 * it takes it, and writes `requestError` when it cannot carry it out.
 */
export const REQUEST_KEYS = {
  startAt: 'requestStartAt',
  startSource: 'requestStartSource',
  rollbackAt: 'requestRollbackAt',
  rollbackBy: 'requestRollbackBy',
  tethersAt: 'requestTethersAt',
  error: 'requestError',
} as const;

// --- labels and names of what the install creates
export const PART_OF_LABEL = 'app.kubernetes.io/part-of';
export const COMPONENT_LABEL = 'app.kubernetes.io/component';
export const PART_OF = 'self-sovereign-cutover';
/** Step ConfigMaps: `component=cutover-step`, ordered and moded by these labels. */
export const STEP_SELECTOR = `${PART_OF_LABEL}=${PART_OF},${COMPONENT_LABEL}=cutover-step`;
export const STEP_LABELS = {
  order: 'bp.openova.io/cutover-order',
  mode: 'bp.openova.io/cutover-mode',
  daemonSet: 'bp.openova.io/cutover-daemonset',
};
/** A step Job's label naming its step (Jobs carry `component=cutover-job`). */
export const JOB_STEP_LABEL = 'cutover.openova.io/step';

/** The pin intake's own entries in the durable pivot and its journal (step 05's stay untouched). */
export const HOLD_STEP = 'pin-intake';

/**
 * The cutover's own policies, by name (the runner may write no other): the egress hold in every
 * namespace, its Cilium counterpart where Cilium runs, and `cutover check`'s trial hold.
 */
export const HOLD = { name: 'cutover-egress-hold', label: 'cutover-egress-hold' };
export const CCNP_NAME = 'cutover-egress-block';
export const TRIAL_HOLD = 'cutover-check-hold';
/** The journal (core/journal.ts): one ConfigMap per step, beside the status ConfigMap. */
export const journalConfigMap = (statusConfigMap: string, step: string): string => `${statusConfigMap}-journal-${step}`;
export const JOURNAL_COMPONENT = 'cutover-journal';
export const JOURNAL_STEP_LABEL = 'cutover.openova.io/journal-step';

export const RUNNER = 'bp-self-sovereign-cutover-runner';
/** The single-flight Lease: one run, rollback, guard pass or intake look at a time, in the install namespace. */
export const LEASE_NAME = 'self-sovereign-cutover';
/** A guard pass holds the Lease as `<pod>/guard-<n>`: a short repair, not a run a rollback must wait out. */
export const GUARD_HOLDER = 'guard';
export const isGuardPass = (holder: string): boolean => new RegExp(`/${GUARD_HOLDER}-\\d+$`).test(holder);
/** Step 05's Gitea credential for Flux: one Secret by this name in each namespace it pivots (RBAC grants it by name). */
export const GITEA_AUTH_SECRET = 'sovereign-cutover-gitea-auth';
/** Flux's copy of the local Harbor's CA (`ca.crt`), referenced by pivoted OCI sources' `certSecretRef` (06). */
export const HARBOR_CA_SECRET = 'sovereign-cutover-harbor-ca';
/** The upstream credentials 08 took out of the pull Secrets, in the install namespace, for a rollback to put back. */
export const PULL_BACKUP_SECRET = 'sovereign-cutover-pull-backup';
export const API_NAME = 'self-sovereign-cutover-api';
/** The API's own identity (ADR 0021): it serves the console and writes requests; it runs nothing. */
export const API_SERVICE_ACCOUNT = 'bp-self-sovereign-cutover-api';
/** The controller: the runner's Deployment that takes the API's requests and runs the engine. */
export const CONTROLLER_NAME = 'self-sovereign-cutover-controller';
/** The tether inventory the controller takes and the API serves, beside the status ConfigMap. */
export const tethersConfigMap = (statusConfigMap: string): string => `${statusConfigMap}-tethers`;
export const TETHERS_COMPONENT = 'cutover-tethers';
export const VALUES_CONFIGMAP = 'self-sovereign-cutover-values';
export const AGENT = { daemonSet: 'registry-pivot', serviceAccount: 'cutover-agent', config: 'registry-pivot-config' };

/** The node agent's namespace: apart from the install, because only it needs Pod Security `privileged`. */
export function agentNamespace(
  values: { registryPivot: { agentNamespace: string } },
  installNamespace: string,
): string {
  return values.registryPivot.agentNamespace || `${installNamespace}-agent`;
}

/**
 * Each node agent's report: a ConfigMap of its own in the agent's namespace (`data`: node, registriesYaml,
 * registryHosts). Agents never write the shared status ConfigMap — 500 writers of one object that 500
 * watchers watch is a storm of N² events — the engine copies the acks into the status's
 * `node.<name>.registriesYaml` keys (the original's contract) with one patch.
 */
export const NODE_REPORT = {
  component: 'registry-pivot-report',
  name: (node: string): string =>
    `${AGENT.daemonSet}.${node}`.length <= 253
      ? `${AGENT.daemonSet}.${node}`
      : `${AGENT.daemonSet}.${node.slice(0, 200)}`,
};

/** The node agent's configuration (`agent.json` in its ConfigMap; the node from the downward API). `namespace` is the status ConfigMap's. */
export interface AgentConfig {
  nodeName: string;
  namespace: string;
  /** Where the agent writes its report (its own namespace). */
  reportNamespace: string;
  statusConfigMap: string;
  certsDir: string;
  k3sConfigDir: string;
  harborURL: string;
  hostProjects: HostProject[];
  /** How nodes trust the local Harbor: its CA bundle (written beside hosts.toml) and whether to skip verification. */
  harborTls: { caBundle: string; insecureSkipVerify: boolean };
}
