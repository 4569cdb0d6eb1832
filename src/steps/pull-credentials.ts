// The upstream credentials in the pull Secrets, once the local pull path is proven (08's fresh pulls
// and Flux fetches under the hold): taken out, so the cluster keeps no key to the upstreams it was cut
// from (the original's "strip mothership auths", Phase 3 after a pull proof — never before: a strip
// before the pivot converged was its unrecoverable half-pivot, lesson 22).
//
// Crash-safe order: the entries go into a backup Secret the cutover owns (read back), the journal names
// each host (never a credential), then one patch of the pull Secret (read back). A rerun finds nothing
// left to strip and keeps the backup; a rollback puts each entry back from the backup, then deletes it.
import { CutoverError } from '../core/errors.ts';
import { parseDockerConfig, registryHost, serializeDockerConfig, type DockerConfig } from '../core/docker-config.ts';
import { PULL_BACKUP_SECRET } from '../core/contracts.ts';
import type { JournalEntry } from '../core/journal.ts';
import { upstreamHosts } from '../inventory/upstream-hosts.ts';
import type { StepContext } from '../core/step.ts';
import type { StepEnv } from './env.ts';
import { applyOwnSecret } from './own-secret.ts';
import { pullSecretsOfSources } from './helmrepository-patches.ts';

type Ctx = StepContext<StepEnv>;

/** Where the pull Secret keeps its document (`harbor.ghcrSecretRef.dockerConfigKey`). */
const dockerConfigKey = (ctx: Ctx): string => ctx.values.harbor.ghcrSecretRef.dockerConfigKey;

/** The backup's key for one pull Secret (a namespace has no dot, so the first one splits). */
export const backupKey = (namespace: string, name: string): string => `${namespace}.${name}`;

interface PullSecret {
  namespace: string;
  name: string;
  config: DockerConfig;
  /** Its `auths` keys that name an upstream host. */
  upstream: string[];
}

async function readPullSecrets(ctx: Ctx): Promise<PullSecret[]> {
  const upstream = new Set([...upstreamHosts(ctx.values).upstream, ...ctx.values.harbor.mothershipAuthsToStrip]);
  const out: PullSecret[] = [];
  for (const { namespace, name } of await pullSecretsOfSources(ctx)) {
    const data = await ctx.env.cluster.secretData(namespace, name);
    const config = parseDockerConfig(data[dockerConfigKey(ctx)] ?? '{"auths":{}}');
    out.push({
      namespace,
      name,
      config,
      upstream: Object.keys(config.auths).filter((k) => upstream.has(registryHost(k))),
    });
  }
  return out;
}

/** `Secret ns/name: host, host` for each pull Secret still holding upstream credentials. */
export async function upstreamCredentialsLeft(ctx: Ctx): Promise<string[]> {
  return (await readPullSecrets(ctx))
    .filter((s) => s.upstream.length)
    .map((s) => `Secret ${s.namespace}/${s.name}: ${s.upstream.map(registryHost).join(', ')}`);
}

/** Takes the upstream entries out of the pull Secrets the pivoted sources name, keeping them in the backup. */
export async function stripUpstreamCredentials(ctx: Ctx, step: string): Promise<void> {
  const harbor = new URL(ctx.values.sovereign.harborPublicURL).host;
  const secrets = (await readPullSecrets(ctx)).filter((s) => s.upstream.length);
  if (!secrets.length) return;
  // Never leave a source with no credential at all: the local Harbor's must be there first (06 put it).
  const bare = secrets.filter((s) => !Object.keys(s.config.auths).some((k) => registryHost(k) === harbor));
  if (bare.length)
    throw new CutoverError(
      'pull-secret-unpivoted',
      `${bare.map((s) => `Secret ${s.namespace}/${s.name}`).join(', ')} has no credentials for the local Harbor ${harbor}: its upstream ones stay (run helmrepository-patches again)`,
    );
  const backup = await readBackup(ctx);
  for (const s of secrets) {
    const key = backupKey(s.namespace, s.name);
    const kept = backup[key] ? parseDockerConfig(backup[key]).auths : {};
    const removed = Object.fromEntries(s.upstream.map((k) => [k, s.config.auths[k]]));
    backup[key] = serializeDockerConfig({ auths: { ...kept, ...removed } });
  }
  // The whole backup in one apply: a server-side apply drops the keys it no longer names.
  await applyOwnSecret(ctx.env, step, ctx.env.namespace, PULL_BACKUP_SECRET, backup);
  for (const s of secrets) {
    const object = { apiVersion: 'v1', kind: 'Secret', namespace: s.namespace, name: s.name };
    await ctx.env.journal.record(
      step,
      s.upstream.map((host) => ({ op: 'strip-auth' as const, object, path: ['data', dockerConfigKey(ctx)], host })),
    );
    const auths = Object.fromEntries(Object.entries(s.config.auths).filter(([k]) => !s.upstream.includes(k)));
    await ctx.env.cluster.mergeSecretData(s.namespace, s.name, {
      [dockerConfigKey(ctx)]: serializeDockerConfig({ ...s.config, auths }),
    });
    ctx.log(
      `Secret ${s.namespace}/${s.name}: upstream credentials taken out (${s.upstream.map(registryHost).join(', ')}); kept in ${ctx.env.namespace}/${PULL_BACKUP_SECRET} for a rollback`,
    );
  }
  const left = await upstreamCredentialsLeft(ctx);
  if (left.length)
    throw new CutoverError(
      'read-back',
      `upstream credentials are still in ${left.join('; ')} after they were taken out`,
    );
}

async function readBackup(ctx: Ctx): Promise<Record<string, string>> {
  return (await ctx.env.cluster.secretDataIfExists(ctx.env.namespace, PULL_BACKUP_SECRET)) ?? {};
}

/**
 * A rollback's part: the entry a `strip-auth` journal entry names goes back into its pull Secret from the
 * backup, unless the Secret has that key again. Returns what it put back ('' when nothing was needed).
 */
export async function restoreStrippedCredential(ctx: Ctx, e: JournalEntry): Promise<string> {
  const { namespace, name } = e.object;
  if (!namespace || !e.host) return '';
  const data = await ctx.env.cluster.secretDataIfExists(namespace, name);
  if (!data) return '';
  // The key the strip took it out of (the journal names it).
  const key = String(e.path?.[1] ?? dockerConfigKey(ctx));
  const config = parseDockerConfig(data[key] ?? '{"auths":{}}');
  if (e.host in config.auths) return '';
  const saved = (await readBackup(ctx))[backupKey(namespace, name)];
  const entry = saved ? parseDockerConfig(saved).auths[e.host] : undefined;
  if (entry === undefined)
    throw new CutoverError(
      'backup-missing',
      `the backup Secret ${ctx.env.namespace}/${PULL_BACKUP_SECRET} has no entry for ${e.host} of Secret ${namespace}/${name}: its upstream credentials cannot be put back`,
    );
  await ctx.env.cluster.mergeSecretData(namespace, name, {
    [key]: serializeDockerConfig({ ...config, auths: { ...config.auths, [e.host]: entry } }),
  });
  return `Secret ${namespace}/${name} auths.${registryHost(e.host)}`;
}
