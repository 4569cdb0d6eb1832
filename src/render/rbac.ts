// What the runner ServiceAccount may do — the API (engine, triggers), every step Job and the
// in-process daemonset-wait step all run as it. One grant per resource, scoped to the namespace it
// is used in wherever the API allows, and to the object's name wherever the runner knows it. What it
// creates by name it creates by server-side apply (a PATCH that names the object, authorized for
// create on that name too); a `create` beside `resourceNames` without `patch` could never be used
// (a POST names no object). The in-cluster test proves from the apiserver's audit log that every verb of every
// grant is used, so none can be dropped.
import { fluxNamespaces, type Values } from '../core/values.ts';
import {
  AGENT,
  agentNamespace,
  CCNP_NAME,
  GITEA_AUTH_SECRET,
  HARBOR_CA_SECRET,
  HOLD,
  LEASE_NAME,
  PULL_BACKUP_SECRET,
  tethersConfigMap,
  TRIAL_HOLD,
} from '../core/contracts.ts';

export interface Grant {
  /** Undefined: cluster-wide (ClusterRole). */
  namespace?: string;
  apiGroup: string;
  resource: string;
  verbs: string[];
  resourceNames?: string[];
  /**
   * Used only for pivots of some shape: `live` (an object nothing applies, patched live) or
   * `helm-release` (an object a chart renders: a post-renderer on its HelmRelease) — or only by a
   * rollback from the API (`rollback`), or only by `cutover check`'s rehearsal (`check`), or held only to be
   * granted to the node agent (`grant`), or only by an operator's approval of an intake (`approve`). A
   * cutover never uses them (the in-cluster test proves that, that every other rule is used, and that a
   * rollback from the console uses the `rollback` ones).
   */
  onlyFor?: 'live' | 'helm-release' | 'rollback' | 'check' | 'grant' | 'approve';
}

const FLUX = 'source.toolkit.fluxcd.io';

export function runnerGrants(values: Values, namespace: string): Grant[] {
  const helm = values.helmRepositories.namespace;
  const pivotable = fluxNamespaces(values);
  const agent = agentNamespace(values, namespace);
  const secretNs = (ref: { namespace: string }) => ref.namespace || namespace;
  const secretsByNamespace = byNamespace(
    [
      values.gitea.adminSecretRef,
      values.harbor.adminSecretRef,
      // The pull Secret where the HelmRepositories are: read and patched by name there (below).
      ...(secretNs(values.harbor.ghcrSecretRef) === helm ? [] : [values.harbor.ghcrSecretRef]),
      ...caSecretRefs(values),
      ...(values.upstream.credentialsSecretRef.name ? [values.upstream.credentialsSecretRef] : []),
    ],
    namespace,
  );
  const grants: Grant[] = [
    // The install namespace: status ConfigMap, step ConfigMaps, the Lease, Jobs, step pods.
    // The install ships the status ConfigMap, so no create: the engine only reads and merge-patches it.
    { namespace, apiGroup: '', resource: 'configmaps', verbs: ['get', 'list', 'patch'] },
    { namespace, apiGroup: 'coordination.k8s.io', resource: 'leases', verbs: ['get', 'create', 'patch'] },
    // The guard records each intake decision as an Event on the status ConfigMap (ADR 0018).
    { namespace, apiGroup: 'events.k8s.io', resource: 'events', verbs: ['create'] },
    // An operator's abort deletes the running step Job (its pod cleans up); a failed one stays for its TTL.
    { namespace, apiGroup: 'batch', resource: 'jobs', verbs: ['get', 'list', 'watch', 'create', 'delete'] },
    { namespace, apiGroup: '', resource: 'pods', verbs: ['get', 'list', 'create', 'delete', 'deletecollection'] },
    // registry-pivot re-applies the node agent the install ships (server-side apply) in the agent's
    // namespace, and the agent's Role on the status ConfigMap here — by their names only. Each is read
    // first: one a CLI run creates (as an admin) is journaled as created (rollback removes only those).
    ...(
      [
        ['apps', 'daemonsets', agent, AGENT.daemonSet],
        ['', 'serviceaccounts', agent, AGENT.serviceAccount],
        ['rbac.authorization.k8s.io', 'roles', namespace, AGENT.serviceAccount],
        ['rbac.authorization.k8s.io', 'rolebindings', namespace, AGENT.serviceAccount],
        ['rbac.authorization.k8s.io', 'roles', agent, AGENT.serviceAccount],
        ['rbac.authorization.k8s.io', 'rolebindings', agent, AGENT.serviceAccount],
      ] as const
    ).map(([apiGroup, resource, ns, name]): Grant => ({
      namespace: ns,
      apiGroup,
      resource,
      verbs: ['get', 'patch'],
      resourceNames: [name],
    })),
    { namespace: agent, apiGroup: '', resource: 'pods', verbs: ['list'] },
    // The agent's namespace: its config (applied again by 04), the nodes' reports (read for the acks; a
    // departed node's removed). The agent writes those by server-side apply under names not known ahead.
    { namespace: agent, apiGroup: '', resource: 'configmaps', verbs: ['get', 'list', 'patch', 'delete'] },
    // Held only so that the runner may grant them to the agent (RBAC refuses to grant what the granter
    // lacks): the agent creates its report in its namespace. The runner itself never does.
    { namespace: agent, apiGroup: '', resource: 'configmaps', verbs: ['create'], onlyFor: 'grant' },
    // The controller watches the status for the API's requests (ADR 0021); the agent is granted it too.
    {
      namespace,
      apiGroup: '',
      resource: 'configmaps',
      verbs: ['watch'],
      resourceNames: [values.status.configMapName],
    },
    // Secrets: read the admin and pull credentials and the CA bundles by name; 05 writes Flux's Gitea credential.
    ...secretsByNamespace.map(([ns, names]): Grant => ({
      namespace: ns,
      apiGroup: '',
      resource: 'secrets',
      verbs: ['get'],
      resourceNames: names,
    })),
    // 05 gives Flux a credential for Gitea, 06 the local Harbor's CA (one Secret by name each per
    // namespace it pivots); 06 adds the local Harbor to the pull Secrets HelmRepositories name.
    // Server-side apply by name: no Secret of any other name can be created there.
    ...pivotable.map((ns): Grant => ({
      namespace: ns,
      apiGroup: '',
      resource: 'secrets',
      verbs: ['get', 'create', 'patch'],
      resourceNames: [GITEA_AUTH_SECRET, HARBOR_CA_SECRET],
    })),
    // 06 adds the local Harbor's robot to the pull Secret the HelmRepositories name, 08 takes the upstream
    // credentials out of it after the pull proof: that one Secret, by name.
    {
      namespace: helm,
      apiGroup: '',
      resource: 'secrets',
      verbs: ['get', 'patch'],
      resourceNames: [values.harbor.ghcrSecretRef.name],
    },
    // 08 keeps what it took out of the pull Secret in a backup Secret of its own, for a rollback to put back.
    {
      namespace,
      apiGroup: '',
      resource: 'secrets',
      verbs: ['get', 'create', 'patch'],
      resourceNames: [PULL_BACKUP_SECRET],
    },
    // Flux sources: 05 and 06 pivot them (live where nothing applies them) and read them back, in the
    // namespaces the values allow; inventory and verification list them everywhere.
    // 05 records the pre-pivot revision on each GitRepository; 08 asks them to fetch under the hold.
    ...pivotable.flatMap((ns): Grant[] => [
      { namespace: ns, apiGroup: FLUX, resource: 'gitrepositories', verbs: ['patch'] },
      { namespace: ns, apiGroup: FLUX, resource: 'helmrepositories', verbs: ['patch'], onlyFor: 'live' },
      { namespace: ns, apiGroup: FLUX, resource: 'ocirepositories', verbs: ['patch'], onlyFor: 'live' },
      // 08 asks the HelmCharts there to pull again under the hold (read first: the journal records the request).
      { namespace: ns, apiGroup: FLUX, resource: 'helmcharts', verbs: ['get', 'patch'] },
      // The durable pivot: spec.patches (server-side apply) and reconcile requests on the Kustomizations there.
      { namespace: ns, apiGroup: 'kustomize.toolkit.fluxcd.io', resource: 'kustomizations', verbs: ['patch'] },
      {
        namespace: ns,
        apiGroup: 'helm.toolkit.fluxcd.io',
        resource: 'helmreleases',
        verbs: ['patch'],
        onlyFor: 'helm-release',
      },
    ]),
    // A rollback from the console (steps/rollback.ts) writes the journaled fields back whole (PUT, against
    // the resourceVersion it read) and deletes the Secrets the cutover created.
    ...pivotable.flatMap((ns): Grant[] => [
      ...(['gitrepositories', 'helmrepositories', 'ocirepositories', 'helmcharts'] as const).map((resource): Grant => ({
        namespace: ns,
        apiGroup: FLUX,
        resource,
        verbs: ['update'],
        onlyFor: 'rollback',
      })),
      {
        namespace: ns,
        apiGroup: '',
        resource: 'secrets',
        verbs: ['delete'],
        resourceNames: [GITEA_AUTH_SECRET, HARBOR_CA_SECRET],
        onlyFor: 'rollback',
      },
    ]),
    {
      namespace,
      apiGroup: '',
      resource: 'secrets',
      verbs: ['delete'],
      resourceNames: [PULL_BACKUP_SECRET],
      onlyFor: 'rollback',
    },
    {
      namespace: values.catalystAPI.namespace,
      apiGroup: 'apps',
      resource: 'deployments',
      verbs: ['update'],
      resourceNames: [values.catalystAPI.deploymentName],
      onlyFor: 'rollback',
    },
    // 06 asks one HelmChart of a pivoted repository to pull again and waits for it (the namespaces it
    // pivots have that already).
    ...(pivotable.includes(helm) ? [] : [{ namespace: helm, apiGroup: FLUX, resource: 'helmcharts', verbs: ['get'] }]),
    // Sources are read back wherever they are (list is cluster-wide already, so get discloses nothing more).
    { apiGroup: FLUX, resource: 'gitrepositories', verbs: ['get', 'list'] },
    { apiGroup: FLUX, resource: 'helmrepositories', verbs: ['get', 'list'] },
    { apiGroup: FLUX, resource: 'ocirepositories', verbs: ['get', 'list'] },
    { apiGroup: FLUX, resource: 'helmcharts', verbs: ['list'] },
    // What applied an object is read wherever it is (an owner, its parent, every consumer of a source).
    { apiGroup: 'kustomize.toolkit.fluxcd.io', resource: 'kustomizations', verbs: ['get', 'list'] },
    { apiGroup: 'helm.toolkit.fluxcd.io', resource: 'helmreleases', verbs: ['get'], onlyFor: 'helm-release' },
    // 07: the configured Deployment only (patched live only when no Kustomization applies it).
    {
      namespace: values.catalystAPI.namespace,
      apiGroup: 'apps',
      resource: 'deployments',
      verbs: ['get'],
      resourceNames: [values.catalystAPI.deploymentName],
    },
    {
      namespace: values.catalystAPI.namespace,
      apiGroup: 'apps',
      resource: 'deployments',
      verbs: ['patch'],
      resourceNames: [values.catalystAPI.deploymentName],
      onlyFor: 'live',
    },
    // The tether inventory (03's artifacts, the console's table): every image in use, in every
    // workload kind; Crossplane provider packages; upstream URLs in ConfigMaps; Flux objects.
    // …and watched by `cutover serve`'s intake, which sees a new image as it appears (issue 15).
    { apiGroup: '', resource: 'pods', verbs: ['list', 'watch'] },
    { apiGroup: 'apps', resource: 'deployments', verbs: ['list'] },
    { apiGroup: 'apps', resource: 'daemonsets', verbs: ['list'] },
    { apiGroup: 'apps', resource: 'statefulsets', verbs: ['list'] },
    { apiGroup: 'apps', resource: 'replicasets', verbs: ['list'] },
    { apiGroup: 'batch', resource: 'jobs', verbs: ['list'] },
    { apiGroup: 'batch', resource: 'cronjobs', verbs: ['list'] },
    { apiGroup: 'pkg.crossplane.io', resource: 'providers', verbs: ['list'] },
    { apiGroup: '', resource: 'configmaps', verbs: ['list'] },
    { apiGroup: FLUX, resource: 'buckets', verbs: ['list'] },
    { apiGroup: 'helm.toolkit.fluxcd.io', resource: 'helmreleases', verbs: ['list'] },
    // 08: the hold lets pods reach the apiserver: the `kubernetes` Service and its EndpointSlices.
    { namespace: 'default', apiGroup: '', resource: 'services', verbs: ['get'], resourceNames: ['kubernetes'] },
    { namespace: 'default', apiGroup: 'discovery.k8s.io', resource: 'endpointslices', verbs: ['list'] },
    // 08: the egress hold in every namespace (and Cilium's cluster-wide policy where Cilium runs).
    { apiGroup: '', resource: 'namespaces', verbs: ['list'] },
    { apiGroup: '', resource: 'nodes', verbs: ['list'] },
    // Each is read before it is created (the journal records it as created). Written by the cutover's
    // own names only: no other policy in the cluster can be changed or removed.
    { apiGroup: 'networking.k8s.io', resource: 'networkpolicies', verbs: ['list'] },
    {
      apiGroup: 'networking.k8s.io',
      resource: 'networkpolicies',
      verbs: ['get', 'create', 'patch', 'delete'],
      resourceNames: [HOLD.name],
    },
    // `cutover check`'s rehearsal: a trial hold on its probe pods, in the install namespace.
    {
      namespace,
      apiGroup: 'networking.k8s.io',
      resource: 'networkpolicies',
      verbs: ['create', 'patch', 'delete'],
      resourceNames: [TRIAL_HOLD],
      onlyFor: 'check',
    },
    { apiGroup: 'cilium.io', resource: 'ciliumclusterwidenetworkpolicies', verbs: ['list'] },
    {
      apiGroup: 'cilium.io',
      resource: 'ciliumclusterwidenetworkpolicies',
      verbs: ['get', 'create', 'patch', 'delete'],
      resourceNames: [CCNP_NAME],
    },
  ];
  return withoutRedundancy(grants);
}

/**
 * What the API may do (ADR 0021): serve the status, write requests, check tokens and sessions. No
 * Secret but the session key, no pod or Job, nothing cluster-wide but TokenReviews; the controller
 * (the runner) does the rest.
 */
export function apiGrants(values: Values, namespace: string): Grant[] {
  const status = values.status.configMapName;
  const session = values.auth.sessionKeySecretRef;
  return withoutRedundancy([
    // The status: read every second (the feed); requests, the auto trigger's arming, an abort and an
    // intake approval are written into it by compare-and-swap.
    { namespace, apiGroup: '', resource: 'configmaps', verbs: ['get', 'patch'], resourceNames: [status] },
    // The inventory the controller took: read, and watched while a fresher one is asked for.
    {
      namespace,
      apiGroup: '',
      resource: 'configmaps',
      verbs: ['get', 'watch'],
      resourceNames: [tethersConfigMap(status)],
    },
    // The step ConfigMaps (a start is refused with 424 when none can run) and the journal (the rollback
    // preview), found by label.
    { namespace, apiGroup: '', resource: 'configmaps', verbs: ['list'] },
    // Who holds the Lease: a start or rollback is refused (409) while anything does.
    { namespace, apiGroup: 'coordination.k8s.io', resource: 'leases', verbs: ['get'], resourceNames: [LEASE_NAME] },
    // An intake approval (`intake.mode: request`) is recorded as an Event on the status ConfigMap.
    { namespace, apiGroup: 'events.k8s.io', resource: 'events', verbs: ['create'], onlyFor: 'approve' },
    // The first replica creates the key that seals sessions when the install has none (server-side apply by name).
    {
      namespace: session.namespace || namespace,
      apiGroup: '',
      resource: 'secrets',
      verbs: ['get', 'create', 'patch'],
      resourceNames: [session.name],
    },
    // The rollback preview: which of Flux's owners carry the cutover's entries, where it pivots.
    ...fluxNamespaces(values).flatMap((ns): Grant[] => [
      {
        namespace: ns,
        apiGroup: 'kustomize.toolkit.fluxcd.io',
        resource: 'kustomizations',
        verbs: ['list'],
        onlyFor: 'rollback',
      },
      {
        namespace: ns,
        apiGroup: 'helm.toolkit.fluxcd.io',
        resource: 'helmreleases',
        verbs: ['list'],
        onlyFor: 'rollback',
      },
    ]),
    // The internal trigger checks callers' ServiceAccount tokens.
    { apiGroup: 'authentication.k8s.io', resource: 'tokenreviews', verbs: ['create'] },
    // The CA bundles the values keep in Secrets (a private CA): the API trusts its identity provider as they say.
    ...byNamespace(caSecretRefs(values), namespace).map(([ns, names]): Grant => ({
      namespace: ns,
      apiGroup: '',
      resource: 'secrets',
      verbs: ['get'],
      resourceNames: names,
    })),
  ]);
}

/** `tls.caBundleSecretRef` and each `tls.hosts[].caBundleSecretRef` that is set. */
function caSecretRefs(values: Values): Array<{ name: string; namespace: string }> {
  return [values.tls.caBundleSecretRef, ...values.tls.hosts.map((h) => h.caBundleSecretRef)].filter(
    (ref) => ref !== undefined,
  );
}

/** Secret names by the namespace each reference names (the install's when it names none), sorted. */
function byNamespace(refs: Array<{ name: string; namespace: string }>, namespace: string): Array<[string, string[]]> {
  const grouped = new Map<string, Set<string>>();
  for (const ref of refs) {
    const ns = ref.namespace || namespace;
    grouped.set(ns, (grouped.get(ns) ?? new Set()).add(ref.name));
  }
  return [...grouped].map(([ns, names]) => [ns, [...names].sort()]);
}

/**
 * Drops every verb another grant already gives more broadly — a cluster-wide grant covers the same
 * verb in any namespace, an unnamed grant covers a named one — so each remaining verb is needed.
 */
export function withoutRedundancy(grants: Grant[]): Grant[] {
  const covers = (broad: Grant, narrow: Grant, verb: string) =>
    broad !== narrow &&
    broad.apiGroup === narrow.apiGroup &&
    broad.resource === narrow.resource &&
    broad.verbs.includes(verb) &&
    !broad.resourceNames &&
    (broad.namespace === undefined
      ? narrow.namespace !== undefined || Boolean(narrow.resourceNames)
      : broad.namespace === narrow.namespace && Boolean(narrow.resourceNames));
  const kept: Grant[] = [];
  for (const grant of grants) {
    const verbs = grant.verbs.filter((verb) => !grants.some((other) => covers(other, grant, verb)));
    if (verbs.length) kept.push({ ...grant, verbs });
  }
  return kept;
}
