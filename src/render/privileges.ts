// The privilege table: every identity the install creates and what it may do, one row per rule,
// derived from the same definitions the install renders (runnerGrants, the agent's Roles). The README
// shows it for the default values; the in-cluster test holds each identity's SelfSubjectRulesReview
// against it.
import type { Values } from '../core/values.ts';
import { AGENT, API_SERVICE_ACCOUNT, RUNNER } from '../core/contracts.ts';
import { agentObjects } from './agent.ts';
import { apiGrants, runnerGrants, type Grant } from './rbac.ts';

export interface PrivilegeRow extends Grant {
  identity: string;
}

interface RoleLike {
  kind: string;
  metadata: { name: string; namespace?: string };
  rules: Array<{ apiGroups: string[]; resources: string[]; verbs: string[]; resourceNames?: string[] }>;
}

/** Every rule of every identity: the API, the runner (the controller and every step Job) and the node agent. */
export function privilegeRows(values: Values, namespace: string): PrivilegeRow[] {
  const api = apiGrants(values, namespace).map((g) => ({ identity: API_SERVICE_ACCOUNT, ...g }));
  const runner = runnerGrants(values, namespace).map((g) => ({ identity: RUNNER, ...g }));
  const agentRoles = (agentObjects(values, namespace) as unknown as RoleLike[]).filter(
    (o) => o.kind === 'Role' && o.metadata.name === AGENT.serviceAccount,
  );
  const agent = agentRoles.flatMap((role) =>
    role.rules.map((r): PrivilegeRow => ({
      identity: AGENT.serviceAccount,
      ...(role.metadata.namespace ? { namespace: role.metadata.namespace } : {}),
      apiGroup: r.apiGroups[0] ?? '',
      resource: r.resources[0] ?? '',
      verbs: r.verbs,
      ...(r.resourceNames ? { resourceNames: r.resourceNames } : {}),
    })),
  );
  return [...api, ...runner, ...agent];
}

/** The table as Markdown. */
export function privilegeTable(rows: PrivilegeRow[]): string {
  const lines = [
    '| identity | where | resource | verbs | names | only for |',
    '| --- | --- | --- | --- | --- | --- |',
    ...rows.map(
      (r) =>
        `| ${r.identity} | ${r.namespace ?? '(cluster)'} | ${r.apiGroup ? `${r.apiGroup}/` : ''}${r.resource} | ${r.verbs.join(', ')} | ${r.resourceNames?.join(', ') ?? 'any'} | ${r.onlyFor ?? ''} |`,
    ),
  ];
  return lines.join('\n');
}
