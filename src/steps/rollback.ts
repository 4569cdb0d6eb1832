// `cutover rollback` (issue 16, ADR 0019): the tethered state back from the journal, from any point —
// a completed cutover, a failed step, a killed run. In order: what a killed step left behind goes
// (each step's reap: the egress hold, canaries); the durable pivot's entries leave every Flux owner
// and the owners re-apply Git; every journaled field gets its value from before the cutover, newest
// change first; pull Secrets lose the local Harbor's credentials; the nodes restore their own
// hosts.toml and acknowledge; what the cutover created is deleted. Then everything is read back,
// and repaired, until it holds or the deadline passes. Local Harbor and Gitea content stays.
import { deleteObject, readObject, replaceObject } from '../adapters/kube/objects.ts';
import { readDaemonSet } from '../adapters/kube/workloads.ts';
import { NodeReports } from '../adapters/kube/node-reports.ts';
import { listPods } from '../adapters/kube/pods.ts';
import { parseDockerConfig, serializeDockerConfig } from '../core/docker-config.ts';
import { CutoverError, PeerError, redact } from '../core/errors.ts';
import {
  describeObject,
  describePath,
  isCredentialHolder,
  isPeerObject,
  undoOrder,
  valueAt,
  withValue,
  type JournalEntry,
} from '../core/journal.ts';
import { doubling, pollUntil } from '../core/poll.ts';
import type { Change, Step, StepContext } from '../core/step.ts';
import { initialStatus } from '../core/status.ts';
import { AGENT, agentNamespace, AUTO_KEYS, COMPONENT_LABEL, type StatusData } from '../core/contracts.ts';
import { nudgeOwnersWithEntries, ownersWithEntries, removeAllEntries } from './durable-pivot.ts';
import { nodesAcked, pruneDepartedNodes } from './registry-pivot.ts';
import { restoreStrippedCredential } from './pull-credentials.ts';
import type { StepEnv } from './env.ts';
import { fluxNamespaces, type Values } from '../core/values.ts';

type Ctx = StepContext<StepEnv>;
/**
 * How long one part of a rollback may wait for the cluster to hold (Flux to re-apply, a field to stay,
 * nodes to acknowledge): past it the rollback fails naming what did not hold, instead of waiting out the
 * whole deadline against a writer it cannot outlast. Run again, it starts over.
 */
const PHASE_MS = 180_000;
const phase = (ctx: Ctx): AbortSignal => AbortSignal.any([ctx.signal, AbortSignal.timeout(PHASE_MS)]);
const DOCKER_CONFIG = '.dockerconfigjson';

const show = (value: unknown): string => (value === undefined ? '(absent)' : JSON.stringify(value).slice(0, 200));

/** One line per change rollback makes, in its order (the confirmation names each); `purge`: peers' content too. */
function undoChanges(entries: JournalEntry[], purge = false): Change[] {
  return undoOrder(entries).map((e): Change => {
    const target = describeObject(e.object);
    switch (e.op) {
      case 'set':
        return { action: 'restore', target, detail: `${describePath(e.path)} → ${show(e.before)}` };
      case 'create':
        if (isCredentialHolder(e.object))
          return { action: 'delete', target, detail: 'created by the cutover to hold a credential: it is revoked' };
        return isPeerObject(e.object) && !purge
          ? { action: 'keep', target, detail: 'created by the cutover; its content stays (--purge deletes it)' }
          : { action: 'delete', target, detail: 'created by the cutover' };
      case 'entries':
        return { action: 'remove', target, detail: `the cutover's entries in ${describePath(e.path)}` };
      case 'registry-auth':
        return { action: 'remove', target, detail: `the credentials for ${e.host} the cutover added` };
      case 'strip-auth':
        return { action: 'restore', target, detail: `the upstream credentials for ${e.host}, from the backup` };
      case 'nodes':
        return {
          action: 'restore',
          target: "every node's containerd hosts.toml",
          detail: 'their own files, kept by the node agent',
        };
    }
  });
}

/**
 * What a rollback would do now (nothing is written). Reads the journal, the status and Flux's owners
 * only — no credential — so the API (its own identity, ADR 0021) can show it.
 */
export async function rollbackPlan(
  ctx: { values: Values; env: Pick<StepEnv, 'journal' | 'status' | 'cluster'> },
  purge = false,
): Promise<Change[]> {
  const changes = undoChanges(await ctx.env.journal.entries(), purge);
  const status = (await ctx.env.status.read()) ?? {};
  if (status.registriesYamlActive === 'v2' && !changes.some((c) => c.target.includes('hosts.toml')))
    changes.push({
      action: 'restore',
      target: "every node's containerd hosts.toml",
      detail: 'registriesYamlActive is v2',
    });
  for (const { host } of await ownersWithEntries(ctx.env.cluster, fluxNamespaces(ctx.values)))
    if (!changes.some((c) => c.action === 'remove' && c.target === `${host.kind} ${host.namespace}/${host.name}`))
      changes.push({
        action: 'remove',
        target: `${host.kind} ${host.namespace}/${host.name}`,
        detail: "the cutover's entries",
      });
  return changes;
}

export interface RollbackResult {
  changes: Change[];
  /** Read-back rounds until everything held. */
  rounds: number;
}

/**
 * Restores the tethered state. `steps`: the chain, for their reap. Records the rollback in the
 * status (who, when, how many changes) and empties the journal: a later cutover starts clean.
 */
export async function rollback(
  ctx: Ctx,
  steps: Step<StepEnv>[],
  by: string,
  options: { purge?: boolean } = {},
): Promise<RollbackResult> {
  const startedAt = new Date().toISOString();
  // A cluster the cutover never ran on has no status yet: created as an engine would, so the record has a place.
  await ctx.env.status.ensure();
  await ctx.env.status.patch({
    rollbackStartedAt: startedAt,
    rollbackBy: by,
    rollbackFinishedAt: '',
    rollbackResult: 'running',
    rollbackError: '',
  });
  try {
    return await undoAll(ctx, steps, by, startedAt, options.purge ?? false);
  } catch (error) {
    // Said in the status too: a rollback that stopped half-way is run again (every part of it is level-triggered).
    await ctx.env.status
      .patch({
        rollbackResult: 'failed',
        rollbackFinishedAt: new Date().toISOString(),
        rollbackError: redact(error instanceof Error ? error.message : String(error)).slice(0, 4000),
      })
      .catch(() => undefined);
    throw error;
  }
}

async function undoAll(
  ctx: Ctx,
  steps: Step<StepEnv>[],
  by: string,
  startedAt: string,
  purge: boolean,
): Promise<RollbackResult> {
  const { env, log } = ctx;
  const entries = await env.journal.entries();
  const changes = await rollbackPlan(ctx, purge);
  for (const step of steps) await step.reap?.({ ...ctx, log: (line) => log(`  ${step.id}: ${line}`) });
  await removeAllEntries(env.cluster, fluxNamespaces(ctx.values), log);
  // A Git-defined list carries ours through its parent's entry: gone once the parent re-applied it.
  await pollUntil(
    () => nudgeOwnersWithEntries(env.cluster, fluxNamespaces(ctx.values)),
    (left) => left.length === 0,
    {
      signal: phase(ctx),
      interval: doubling(1000, 5000),
      code: 'rollback-incomplete',
      message: (left) => `Flux never re-applied ${left.join(', ')} without the cutover's entries`,
    },
  );
  const undo = undoOrder(entries);
  let rounds = 0;
  await pollUntil(
    async () => {
      rounds++;
      return await restore(ctx, undo);
    },
    (left) => left.length === 0,
    {
      signal: phase(ctx),
      interval: doubling(1000, 5000),
      code: 'rollback-incomplete',
      message: (left) => `these never held their value from before the cutover: ${left.join('; ')}`,
    },
  );
  await nodesBack(ctx, entries);
  const created = undo.filter((e) => e.op === 'create' && !isPeerObject(e.object));
  for (const e of created) {
    if (await deleteObject(env.cluster, e.object)) log(`deleted ${describeObject(e.object)}`);
  }
  await pollUntil(
    async () => {
      const left: string[] = [];
      for (const e of created) if (await readObject(env.cluster, e.object)) left.push(describeObject(e.object));
      return left;
    },
    (left) => left.length === 0,
    {
      signal: phase(ctx),
      interval: doubling(500, 5000),
      code: 'rollback-incomplete',
      message: (left) => `still there after their deletion: ${left.join(', ')}`,
    },
  );
  // A node agent the cutover deployed goes with the reports its agents wrote (an installed one keeps them),
  // once its pods are gone: a terminating agent could still write one.
  if (created.some((e) => e.object.kind === 'DaemonSet' && e.object.name === AGENT.daemonSet)) {
    const agentNs = agentNamespace(ctx.values, env.namespace);
    await pollUntil(
      async () => (await listPods(env.cluster, agentNs, `${COMPONENT_LABEL}=${AGENT.daemonSet}`)).length,
      (left) => left === 0,
      {
        signal: phase(ctx),
        interval: doubling(500, 5000),
        code: 'rollback-incomplete',
        message: (left) => `${left} node agent pod(s) still running after their DaemonSet was deleted`,
      },
    );
    const reports = NodeReports.forInstall(env.cluster, ctx.values, env.namespace);
    for (const r of await reports.list()) await reports.remove(r.name);
  }
  // The identities holding credentials the cutover gave out go with them (their tokens are revoked).
  for (const e of undo.filter((e) => e.op === 'create' && isCredentialHolder(e.object))) {
    const gone =
      e.object.kind === 'HarborRobot'
        ? await env.harbor.deleteRobot(e.object.name)
        : await env.forge.deleteUser(e.object.name);
    if (gone) log(`deleted ${describeObject(e.object)}: its credentials no longer work`);
  }
  if (purge) await purgePeers(ctx, undo);
  await resetStatus(ctx, { rollbackStartedAt: startedAt, rollbackBy: by, changes: changes.length });
  await env.journal.clear();
  log(`rollback complete: ${changes.length} change(s) undone, read back in ${rounds} round(s)`);
  return { changes, rounds };
}

/** One pass over the journaled fields and pull Secrets: writes what differs, returns what did. */
async function restore(ctx: Ctx, undo: JournalEntry[]): Promise<string[]> {
  const { cluster } = ctx.env;
  const differed: string[] = [];
  for (const e of undo) {
    if (e.op === 'set') {
      const live = await readObject(cluster, e.object);
      if (!live || JSON.stringify(valueAt(live, e.path ?? [])) === JSON.stringify(e.before)) continue;
      differed.push(`${describeObject(e.object)} ${describePath(e.path)}`);
      try {
        await replaceObject(cluster, withValue(live, e.path ?? [], e.before));
        ctx.log(`restored ${describeObject(e.object)} ${describePath(e.path)}`);
      } catch (error) {
        // Someone wrote it since the read (Flux re-applying): the next pass reads again.
        if (!(error instanceof PeerError && error.status === 409)) throw error;
      }
    }
    if (e.op === 'strip-auth') {
      const restored = await restoreStrippedCredential(ctx, e);
      if (restored) {
        differed.push(restored);
        ctx.log(`${restored}: put back from the backup`);
      }
    }
    if (e.op === 'registry-auth' && e.host && e.object.namespace) {
      const data = await cluster.secretDataIfExists(e.object.namespace, e.object.name);
      if (!data?.[DOCKER_CONFIG]) continue;
      const config = parseDockerConfig(data[DOCKER_CONFIG]);
      if (!(e.host in config.auths)) continue;
      differed.push(`${describeObject(e.object)} auths.${e.host}`);
      const auths = Object.fromEntries(Object.entries(config.auths).filter(([host]) => host !== e.host));
      await cluster.mergeSecretData(e.object.namespace, e.object.name, {
        [DOCKER_CONFIG]: serializeDockerConfig({ ...config, auths }),
      });
      ctx.log(`${describeObject(e.object)}: the credentials for ${e.host} taken out`);
    }
  }
  return differed;
}

/** The nodes restore their own files (the agent keeps them) and acknowledge v1, when they were ever told v2. */
async function nodesBack(ctx: Ctx, entries: JournalEntry[]): Promise<void> {
  const status = (await ctx.env.status.read()) ?? {};
  if (status.registriesYamlActive !== 'v2' && !entries.some((e) => e.op === 'nodes')) return;
  await ctx.env.status.patch({ registriesYamlActive: 'v1' });
  const namespace = agentNamespace(ctx.values, ctx.env.namespace);
  const agentRuns = await readDaemonSet(ctx.env.cluster, namespace, AGENT.daemonSet).then(
    () => true,
    (error: unknown) => {
      if (error instanceof PeerError && error.status === 404) return false;
      throw error;
    },
  );
  if (!agentRuns) {
    ctx.log(`no node agent (DaemonSet ${namespace}/${AGENT.daemonSet}): no node was ever pivoted`);
    return;
  }
  await pruneDepartedNodes(ctx);
  const acked = await pollUntil(
    () => nodesAcked(ctx, 'v1'),
    (p) => p.ok,
    {
      signal: phase(ctx),
      interval: 1000,
      code: 'rollback-incomplete',
      message: (p) => `the node agents never all restored their own hosts.toml: ${p.detail}`,
    },
  );
  ctx.log(`nodes: ${acked.detail}`);
}

/**
 * The status as a fresh install has it, plus the rollback's record and the auto trigger's keys
 * (it fires once ever): a later cutover starts clean.
 */
async function resetStatus(
  ctx: Ctx,
  record: { rollbackStartedAt: string; rollbackBy: string; changes: number },
): Promise<void> {
  const current = (await ctx.env.status.read()) ?? {};
  const keep = new Set<string>(Object.values(AUTO_KEYS));
  const cleared = Object.fromEntries(
    Object.keys(current)
      .filter((key) => !keep.has(key))
      .map((key) => [key, null]),
  ) as unknown as StatusData;
  const written = await ctx.env.status.patch({
    ...cleared,
    ...initialStatus(),
    rollbackStartedAt: record.rollbackStartedAt,
    rollbackBy: record.rollbackBy,
    rollbackFinishedAt: new Date().toISOString(),
    rollbackResult: 'restored',
    rollbackChanges: String(record.changes),
  });
  if (written.cutoverComplete !== 'false' || written.registriesYamlActive !== 'v1')
    throw new CutoverError('read-back', 'the status ConfigMap does not read back as reset');
}

/** `--purge`: the Gitea mirror and org and the Harbor projects the cutover created go too, with their content. */
async function purgePeers(ctx: Ctx, undo: JournalEntry[]): Promise<void> {
  const { forge, harbor } = ctx.env;
  const peers = undo.filter((e) => e.op === 'create' && isPeerObject(e.object)).map((e) => e.object);
  // A repository before its organisation (Gitea refuses to delete an organisation that holds one).
  for (const o of peers.filter((p) => p.kind === 'GiteaRepository'))
    if (await forge.deleteRepo(o.namespace ?? '', o.name)) ctx.log(`purged ${describeObject(o)}`);
  for (const o of peers.filter((p) => p.kind === 'GiteaOrganization'))
    if (await forge.deleteOrg(o.name)) ctx.log(`purged ${describeObject(o)}`);
  for (const o of peers.filter((p) => p.kind === 'HarborProject'))
    if (await harbor.deleteProject(o.name)) ctx.log(`purged ${describeObject(o)} and every repository in it`);
}
