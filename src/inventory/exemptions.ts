// Which tethers stay upstream on purpose, and why. Pure.
import type { Tether } from '../core/tether.ts';
import type { TetherExemption } from '../core/values.ts';

/** `*` matches any run of characters; everything else matches itself; the whole text must match. */
export function globMatches(pattern: string, text: string): boolean {
  return new RegExp(
    `^${pattern
      .split('*')
      .map((p) => p.replace(/[.+?^${}()|[\]\\]/g, '\\$&'))
      .join('.*')}$`,
  ).test(text);
}

/**
 * Why a tether is exempt, if it is: a Deployment's rollout history (the live template is listed on
 * its own) unless already pivoted, then the first explicit rule from values (`tethers.exempt`) whose
 * every given field matches.
 */
export function exemptionOf(
  t: Tether,
  /** ReplicaSets a Deployment keeps at zero replicas as rollout history → that Deployment. */
  history: ReadonlyMap<string, string>,
  rules: readonly TetherExemption[],
): string | undefined {
  const owner = history.get(t.object);
  if (owner && t.state !== 'pivoted')
    return `rollout history of ${owner} (0 replicas; its live template is listed itself)`;
  for (const rule of rules) {
    if (rule.kind && rule.kind !== t.kind) continue;
    if (rule.object && !globMatches(rule.object, t.object)) continue;
    if (rule.upstream && !globMatches(rule.upstream, t.upstream)) continue;
    return rule.reason;
  }
  return undefined;
}
