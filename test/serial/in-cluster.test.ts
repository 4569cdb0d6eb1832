// Runs alone: the dormant install, installed as the original is (the chart, generated for the lab's
// values and pushed under the upstream prefix, installed by helm-controller from an OCI HelmRepository:
// a tether the cutover itself pivots), the cutover started
// through the in-cluster API's internal trigger, every step Job run by the lab kubelet as the runner
// ServiceAccount. Then least privilege, from the apiserver's audit log: no request of the runner or
// the node agent was denied, and every verb of every rule served a request no other rule covers —
// so removing any rule makes some step fail with 403 (shown for one rule, for real).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { KubeConfig, type KubernetesObject } from '@kubernetes/client-node';
import { CUTOVER_RELEASE, installCutover, resetSovereign } from '../../lab/lab.ts';
import { LAB_DIR } from '../../lab/topology.ts';
import { AUDIT_LOG } from '../../lab/kube/control-plane.ts';
import { serverSideApply } from '../../src/adapters/kube/apply.ts';
import { parseValues } from '../../src/core/values.ts';
import { apiGrants, runnerGrants, type Grant } from '../../src/render/rbac.ts';
import { privilegeRows } from '../../src/render/privileges.ts';
import { render } from '../../src/render/render.ts';
import {
  AGENT,
  agentNamespace,
  API_SERVICE_ACCOUNT,
  CONTROLLER_NAME,
  NODE_REPORT,
  recheckKey,
  RUNNER,
  stepKey,
} from '../../src/core/contracts.ts';
import { CCNP_STAND_IN, eventually, kube, serviceAccountToken, standInCrd } from '../support/kube.ts';
import { reconcileAll } from '../support/flux.ts';
import { KubeCluster, mergePatch } from '../../src/adapters/kube/cluster.ts';
import { getFlux, patchFlux, readyCondition } from '../../src/adapters/kube/flux.ts';
import { getOwner, HELM_RELEASES, KUSTOMIZATIONS, ownerOf } from '../../src/adapters/kube/flux-owners.ts';
import { labValuesFile, signIn } from '../support/api.ts';
import { dropGiteaOrg, lab, uniqueName } from '../support/lab.ts';

const e = lab();
const k = kube();
const NS = 'catalyst';
const cli = new URL('../../src/cli/main.ts', import.meta.url).pathname;
// The mirror goes into a private Gitea org, so Flux needs a credential (05 writes it) as on a real Sovereign.
const privateOrg = uniqueName('private');
const valuesText = readFileSync(labValuesFile({ gitea: { org: privateOrg } }), 'utf8');
const values = parseValues(valuesText);
const quiet = (): void => {};
let removeCcnp: (() => Promise<void>) | undefined;
after(async () => {
  await dropGiteaOrg(privateOrg);
  await removeCcnp?.();
  await resetSovereign(quiet);
});

interface AuditEvent {
  stage: string;
  verb: string;
  user: { username: string };
  objectRef?: { resource?: string; subresource?: string; namespace?: string; name?: string; apiGroup?: string };
  responseStatus?: { code?: number };
}

function auditSince(offset: number): AuditEvent[] {
  return readFileSync(AUDIT_LOG, 'utf8')
    .slice(offset)
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as AuditEvent)
    .filter((ev) => ev.stage === 'ResponseComplete' || (ev.stage === 'ResponseStarted' && ev.verb === 'watch'));
}

/** The verbs a request was authorized for: an apply that created the object needed create too. */
function verbsOf(ev: AuditEvent): string[] {
  return ev.verb === 'patch' && ev.responseStatus?.code === 201 ? ['patch', 'create'] : [ev.verb];
}

function matches(grant: Grant, ev: AuditEvent, verb: string): boolean {
  const ref = ev.objectRef;
  if (!ref || ref.subresource || !grant.verbs.includes(verb) || !verbsOf(ev).includes(verb)) return false;
  if ((ref.apiGroup ?? '') !== grant.apiGroup || ref.resource !== grant.resource) return false;
  if (grant.namespace !== undefined && ref.namespace !== grant.namespace) return false;
  return !grant.resourceNames || grant.resourceNames.includes(ref.name ?? '');
}

/** Every (rule, verb) that served no request which only it covers. */
function unneeded(grants: Grant[], events: AuditEvent[]): string[] {
  // Authorized requests: a 404 (a CRD not installed here) was still allowed by RBAC first.
  const allowed = events.filter((ev) => ev.responseStatus?.code !== 403 && ev.responseStatus?.code !== 401);
  const missing: string[] = [];
  for (const grant of grants) {
    for (const verb of grant.verbs) {
      const needed = allowed.some(
        (ev) => matches(grant, ev, verb) && !grants.some((other) => other !== grant && matches(other, ev, verb)),
      );
      if (!needed)
        missing.push(
          `${verb} ${grant.apiGroup || 'core'}/${grant.resource}${grant.namespace ? ` in ${grant.namespace}` : ' (cluster)'}${grant.resourceNames ? ` [${grant.resourceNames.join(',')}]` : ''}`,
        );
    }
  }
  return missing;
}

test(
  'in-cluster: the dormant install (the chart, by helm-controller from an OCI HelmRepository) runs the whole cutover from the internal trigger with zero 403s, and every RBAC rule is needed',
  { timeout: 600_000 },
  async () => {
    await resetSovereign(quiet);
    const gitea = await fetch(`${e.gitea.url}/api/v1/orgs`, {
      method: 'POST',
      headers: { authorization: `token ${e.gitea.token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ username: privateOrg, visibility: 'private' }),
    });
    assert.equal(gitea.status, 201, await gitea.text());
    // Exercise the Cilium path too: with its CRD present the egress hold is also a CiliumClusterwideNetworkPolicy.
    removeCcnp = await standInCrd(CCNP_STAND_IN);

    // From before the install: the API's long-running Pod watch starts with it.
    const auditFrom = statSync(AUDIT_LOG).size;
    const apiURL = (await installCutover(quiet, valuesText, 'helm-controller')).replace(/\/$/, '');
    // A node that left the cluster after it reported: the engine removes its report (and its ack).
    const agentNs = agentNamespace(values, NS);
    await k.core.createNamespacedConfigMap({
      namespace: agentNs,
      body: {
        metadata: {
          name: NODE_REPORT.name('node-departed'),
          labels: {
            'app.kubernetes.io/part-of': 'self-sovereign-cutover',
            'app.kubernetes.io/component': NODE_REPORT.component,
          },
        },
        data: { node: 'node-departed', registriesYaml: 'v2', registryHosts: '{}' },
      },
    });
    const objects = render(values, { namespace: NS, valuesText, version: '0.1.0' });

    const token = await serviceAccountToken(RUNNER, NS);
    const readStatus = async () =>
      (await k.core.readNamespacedConfigMap({ name: values.status.configMapName, namespace: NS })).data ?? {};
    const triggerRun = async () => {
      const trigger = await fetch(`${apiURL}/api/v1/internal/cutover/trigger`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}` },
      });
      assert.equal(trigger.status, 200, await trigger.text());
    };
    const holds = async () =>
      (
        await KubeCluster.connect(e.kube.kubeconfig).networking.listNetworkPolicyForAllNamespaces({
          labelSelector: 'app.kubernetes.io/component=cutover-egress-hold',
        })
      ).items.length;

    // First an operator's abort, from a terminal, while step 08 holds egress in its Job (issue 16 §2):
    // the engine in the API deletes the Job, its pod removes the hold, the run fails there, who is recorded,
    // and nothing resumes it — a second trigger does.
    await triggerRun();
    await eventually('step 08 to hold egress', async () => (await holds()) > 0, 420_000);
    const abort = spawnSync(process.execPath, [cli, 'abort', '--yes', '--kubeconfig', e.kube.kubeconfig, '-n', NS], {
      encoding: 'utf8',
    });
    assert.equal(abort.status, 0, `${abort.stdout}\n${abort.stderr}`);
    assert.match(abort.stdout, /aborted by \S+ at \S+: stopped at egress-block-test; the Lease is free/);
    assert.equal(await holds(), 0, 'the hold went with the aborted Job');
    const aborted = await readStatus();
    assert.equal(aborted.failedStep, 'egress-block-test');
    assert.match(aborted.abortedBy ?? '', /\S/);
    const jobOf08 = aborted[stepKey('egress-block-test', 'jobName')] ?? '';
    assert.match(jobOf08, /^cutover-egress-block-test-/, 'the Job was named in the status when it started');
    await eventually(
      'the aborted Job to be gone',
      async () => !(await k.batch.listNamespacedJob({ namespace: NS })).items.some((j) => j.metadata?.name === jobOf08),
      60_000,
    );
    await sleep(12_000); // longer than the API's reconcile period: it does not resume an aborted run
    assert.equal((await readStatus()).failedStep, 'egress-block-test', 'not resumed');

    const started = performance.now();
    await triggerRun();
    await eventually(
      'the run to start again',
      async () => (await readStatus()).cutoverLastAttemptStartedAt !== aborted.cutoverLastAttemptStartedAt,
      30_000,
    );
    const status = await eventually(
      'the cutover to complete or fail',
      async () => {
        const data =
          (await k.core.readNamespacedConfigMap({ name: values.status.configMapName, namespace: NS })).data ?? {};
        return data.cutoverComplete === 'true' || data.failedStep ? data : undefined;
      },
      420_000,
    );
    console.log(`# in-cluster cutover: ${((performance.now() - started) / 1000).toFixed(1)} s`);
    assert.equal(status.failedStep, '', `failed: ${status.failedStep}: ${status.lastError}`);
    assert.equal(status.cutoverComplete, 'true');
    const jobs = (
      await k.batch.listNamespacedJob({ namespace: NS, labelSelector: 'app.kubernetes.io/component=cutover-job' })
    ).items;
    assert.equal(jobs.length, 7, 'one Job per job-mode step');
    // The install's own chart source was a tether like any other: prewarmed, pivoted, and its release Ready on it.
    const admin = KubeCluster.connect(e.kube.kubeconfig);
    const ownSource = await getFlux(admin, 'helmrepositories', CUTOVER_RELEASE.namespace, CUTOVER_RELEASE.chart);
    assert.match(ownSource.spec.url ?? '', new RegExp(`^oci://${new URL(values.sovereign.harborPublicURL).host}/`));
    const ownRelease = await getOwner(admin, HELM_RELEASES, CUTOVER_RELEASE);
    assert.equal(
      readyCondition(ownRelease as never)?.status,
      'True',
      'the cutover release is Ready from the local Harbor',
    );
    const repo = (await k.custom.getNamespacedCustomObject({
      group: 'source.toolkit.fluxcd.io',
      version: 'v1',
      plural: 'gitrepositories',
      namespace: values.gitopsRepository.namespace,
      name: values.gitopsRepository.name,
    })) as { spec: { url: string; secretRef?: { name: string } } };
    assert.equal(repo.spec.url, `${e.gitea.url}/${privateOrg}/${values.gitea.repo}`);
    assert.ok(repo.spec.secretRef, 'the private mirror is read with a credential');
    for (const job of jobs) assert.equal(job.spec?.template.spec?.serviceAccountName, RUNNER);

    // The console's tether table, as the runner sees it: after the cutover nothing but exempt rows.
    // A sovereign-admin reads it (a viewer may not: 403).
    const viewer = await signIn(apiURL, 'viewer');
    const refused = await fetch(`${apiURL}/api/v1/sovereign/cutover/tethers`, { headers: { cookie: viewer.cookie } });
    assert.equal(refused.status, 403);
    const reader = await signIn(apiURL, 'admin');
    const tethers = (await (
      await fetch(`${apiURL}/api/v1/sovereign/cutover/tethers?fresh=true`, { headers: { cookie: reader.cookie } })
    ).json()) as {
      summary: { tethered: number; unmapped: number; exempt: number; pivoted: number; unreadable: string[] };
      tethers: Array<{ state: string; object: string; field: string; upstream: string }>;
    };
    const left = tethers.tethers
      .filter((t) => t.state === 'tethered' || t.state === 'unmapped')
      .map((t) => `${t.state} ${t.object} ${t.field} ${t.upstream}`);
    assert.deepEqual(left, [], 'no tether left but exempt ones');
    assert.deepEqual(tethers.summary.unreadable, []);
    assert.ok(
      tethers.summary.pivoted > 10,
      `images still named upstream are served locally (${tethers.summary.pivoted} pivoted)`,
    );

    // The guard's first look after the cutover: the pin intake holds Flux on the verified head, and says so
    // in a Kubernetes Event on the status ConfigMap (ADR 0018).
    const decision = await eventually(
      'the intake to record its first decision as an Event',
      async () =>
        (await KubeCluster.connect(e.kube.kubeconfig).events.listNamespacedEvent({ namespace: NS })).items.find(
          (ev) => ev.reason === 'RevisionVerified' && ev.regarding?.name === values.status.configMapName,
        ),
      90_000,
    );
    assert.equal(decision.reportingController, 'sovereign-cutover.openova.io/guard');
    console.log(`# intake decision: ${decision.note ?? ''}`);
    // The apiserver writes a request's audit line after answering it.
    await eventually(
      "the Event's create in the audit log",
      async () =>
        auditSince(auditFrom).some((ev) => ev.verb === 'create' && ev.objectRef?.apiGroup === 'events.k8s.io'),
      10_000,
    );

    const events = auditSince(auditFrom);
    const runner = events.filter((ev) => ev.user.username === `system:serviceaccount:${NS}:${RUNNER}`);
    // The API (ADR 0021) wrote the trigger's request, served the inventory the controller took, and ran nothing.
    const api = events.filter((ev) => ev.user.username === `system:serviceaccount:${NS}:${API_SERVICE_ACCOUNT}`);
    console.log(`# audit: ${api.length} API requests`);
    assert.deepEqual(
      api.filter((ev) => ev.responseStatus?.code === 403).map((ev) => `${ev.verb} ${JSON.stringify(ev.objectRef)}`),
      [],
      'no API request was denied',
    );
    assert.deepEqual(
      unneeded(
        apiGrants(values, NS).filter((g) => !g.onlyFor),
        api,
      ),
      [],
      'every API rule served a request only it allows',
    );
    assert.deepEqual(
      api
        .filter((ev) => ['create', 'delete', 'update'].includes(ev.verb) && ev.objectRef?.resource !== 'tokenreviews')
        .map((ev) => `${ev.verb} ${JSON.stringify(ev.objectRef)}`)
        .filter((line) => !line.includes('sovereign-cutover-session')),
      [],
      'the API created, replaced or deleted nothing (its writes are patches of the status and the session key)',
    );
    const agent = events.filter(
      (ev) => ev.user.username === `system:serviceaccount:${agentNamespace(values, NS)}:${AGENT.serviceAccount}`,
    );
    console.log(`# audit: ${runner.length} runner requests, ${agent.length} node-agent requests`);
    assert.ok(runner.length > 50 && agent.length > 0);
    const denied = [...runner, ...agent]
      .filter((ev) => ev.responseStatus?.code === 403)
      .map((ev) => `${ev.user.username} ${ev.verb} ${JSON.stringify(ev.objectRef)}`);
    assert.deepEqual(denied, [], 'no request was denied');
    const grants = runnerGrants(values, NS);
    assert.deepEqual(
      unneeded(
        grants.filter((g) => !g.onlyFor),
        runner,
      ),
      [],
      'every runner rule served a request only it allows',
    );
    // Every object this Sovereign's cutover pivots is applied by a Kustomization: every pivot went into
    // its spec.patches, so no request needed a rule kept for live patches or post-renderers.
    const fallbacks = grants.filter((g) => g.onlyFor);
    assert.ok(fallbacks.length >= 3);
    assert.deepEqual(
      runner
        .filter((ev) => fallbacks.some((g) => g.verbs.some((verb) => matches(g, ev, verb))))
        .map((ev) => `${ev.verb} ${JSON.stringify(ev.objectRef)}`),
      [],
      'no live patch, no post-renderer: every pivot went into a Kustomization',
    );
    // The agent's two Roles: the status ConfigMap (read, watch) here, its report in its own namespace.
    const agentRoles = objects.filter(
      (o) => o.kind === 'Role' && o.metadata?.name === AGENT.serviceAccount,
    ) as unknown as Array<{
      metadata: { namespace: string };
      rules: Array<{ apiGroups: string[]; resources: string[]; verbs: string[]; resourceNames?: string[] }>;
    }>;
    assert.equal(agentRoles.length, 2);
    const agentGrants = agentRoles.flatMap((role) =>
      role.rules.map((r): Grant => ({
        namespace: role.metadata.namespace,
        apiGroup: r.apiGroups[0] ?? '',
        resource: r.resources[0] ?? '',
        verbs: r.verbs,
        ...(r.resourceNames ? { resourceNames: r.resourceNames } : {}),
      })),
    );
    const departed = await k.core
      .readNamespacedConfigMap({ name: NODE_REPORT.name('node-departed'), namespace: agentNs })
      .catch(() => undefined);
    assert.equal(departed, undefined, "a departed node's report is removed");
    assert.deepEqual(unneeded(agentGrants, agent), [], 'every node-agent rule served a request');
  },
);

test("privilege table: what the apiserver says each identity may do (SelfSubjectRulesReview) is exactly the table's rows", async () => {
  const rows = privilegeRows(values, NS);
  const agentNs = agentNamespace(values, NS);
  const tuples = (group: string, resource: string, verb: string, name: string | undefined) =>
    `${group}|${resource}|${verb}|${name ?? '*'}`;
  const server = new KubeConfig();
  server.loadFromFile(e.kube.kubeconfig);
  for (const [identity, home] of [
    [API_SERVICE_ACCOUNT, NS],
    [RUNNER, NS],
    [AGENT.serviceAccount, agentNs],
  ] as const) {
    const token = await serviceAccountToken(identity, home);
    const asIt = new KubeConfig();
    asIt.loadFromOptions({
      clusters: server.getClusters(),
      users: [{ name: identity, token }],
      contexts: [{ name: identity, cluster: server.getCurrentCluster()?.name ?? '', user: identity }],
      currentContext: identity,
    });
    const cluster = new KubeCluster(asIt);
    const mine = rows.filter((r) => r.identity === identity);
    for (const ns of new Set([NS, agentNs, ...mine.flatMap((r) => (r.namespace ? [r.namespace] : []))])) {
      const review = await cluster.authorization.createSelfSubjectRulesReview({
        body: { apiVersion: 'authorization.k8s.io/v1', kind: 'SelfSubjectRulesReview', spec: { namespace: ns } },
      });
      const actual = new Set(
        (review.status?.resourceRules ?? []).flatMap((r) =>
          (r.apiGroups ?? ['']).flatMap((group) =>
            (r.resources ?? [])
              // What every authenticated identity may ask about itself (system:basic-user).
              .filter((resource) => !resource.startsWith('selfsubject'))
              .flatMap((resource) =>
                r.verbs.flatMap((verb) =>
                  (r.resourceNames?.length ? r.resourceNames : [undefined]).map((name) =>
                    tuples(group, resource, verb, name),
                  ),
                ),
              ),
          ),
        ),
      );
      const expected = new Set(
        mine
          .filter((r) => r.namespace === undefined || r.namespace === ns)
          .flatMap((r) =>
            r.verbs.flatMap((verb) =>
              (r.resourceNames ?? [undefined]).map((name) => tuples(r.apiGroup, r.resource, verb, name)),
            ),
          ),
      );
      assert.deepEqual([...actual].sort(), [...expected].sort(), `${identity} in ${ns}`);
    }
  }
});

test('sentinel: no secret the cutover read or minted appears in a log, the status or journal, an Event, the metrics, an API or SSE answer or the console', async () => {
  const apiURL = `http://127.0.0.1:${values.api.port}`;
  const secretText = async (namespace: string, name: string) =>
    Object.values((await k.core.readNamespacedSecret({ name, namespace })).data ?? {}).map((v) =>
      Buffer.from(v, 'base64').toString(),
    );
  // Every credential in play, by name: the admins', the pull Secret's, the identity provider's, the
  // session key and the token the cutover minted for Flux.
  const pull = JSON.parse(
    (await secretText(values.harbor.ghcrSecretRef.namespace, values.harbor.ghcrSecretRef.name))[0] ?? '{}',
  ) as { auths?: Record<string, { username?: string; password?: string; auth?: string }> };
  const sentinels: Record<string, string> = {
    'gitea admin password': e.gitea.password,
    'gitea admin token': e.gitea.token,
    'harbor admin password': e.localHarbor.password,
    'oidc client secret': e.oidc.clientSecret,
    'session key': (await secretText(NS, 'sovereign-cutover-session'))[0] ?? '',
    ...Object.fromEntries(
      Object.entries(pull.auths ?? {}).flatMap(([host, a]) => [
        [`pull password for ${host}`, a.password ?? ''],
        [`pull auth for ${host}`, a.auth ?? ''],
      ]),
    ),
  };
  const flux = await k.core
    .readNamespacedSecret({ name: 'sovereign-cutover-gitea-auth', namespace: values.gitopsRepository.namespace })
    .catch(() => undefined);
  if (flux?.data?.password) sentinels["Flux's Gitea token"] = Buffer.from(flux.data.password, 'base64').toString();
  const wanted = Object.entries(sentinels).filter(([, v]) => v.length >= 8);
  assert.ok(wanted.length >= 6, `sentinels: ${wanted.map(([n]) => n).join(', ')}`);

  // Where it must never show: everything an operator, a log pipeline or a scraper can read.
  const places: Array<[string, string]> = [];
  const podLogs = (dir: string): string[] =>
    readdirSync(dir, { withFileTypes: true }).flatMap((d) =>
      d.isDirectory() ? podLogs(join(dir, d.name)) : d.name.endsWith('.log') ? [join(dir, d.name)] : [],
    );
  const podsDir = join(LAB_DIR, 'kubelet', 'pods');
  for (const pod of readdirSync(podsDir).filter((p) => p.startsWith(`${NS}_`) || p.startsWith(`${NS}-agent_`)))
    for (const file of podLogs(join(podsDir, pod)))
      places.push([`log ${pod}/${file.split('/').pop()}`, readFileSync(file, 'utf8')]);
  for (const ns of [NS, `${NS}-agent`]) {
    for (const cm of (await k.core.listNamespacedConfigMap({ namespace: ns })).items)
      places.push([`ConfigMap ${ns}/${cm.metadata?.name}`, JSON.stringify(cm.data ?? {})]);
    places.push([`Events in ${ns}`, JSON.stringify((await k.core.listNamespacedEvent({ namespace: ns })).items)]);
    places.push([
      `pod statuses in ${ns}`,
      JSON.stringify((await k.core.listNamespacedPod({ namespace: ns })).items.map((p) => p.status)),
    ]);
  }
  const admin = await signIn(apiURL, 'admin');
  for (const path of [
    '/',
    '/console.js',
    '/metrics',
    '/api/v1/session',
    '/api/v1/sovereign/cutover/status',
    '/api/v1/sovereign/cutover/tethers?all=true',
    '/api/v1/sovereign/cutover/rollback',
    '/api/v1/sovereign/cutover/events',
  ])
    places.push([`GET ${path}`, await (await fetch(`${apiURL}${path}`, { headers: { cookie: admin.cookie } })).text()]);
  const login = await fetch(`${apiURL}/auth/login`, { redirect: 'manual' });
  places.push(['GET /auth/login (redirect)', `${login.headers.get('location')} ${login.headers.get('set-cookie')}`]);
  assert.ok(
    places.some(([where]) => where.startsWith('log ')),
    'pod logs were scanned',
  );

  const found: string[] = [];
  for (const [name, value] of wanted)
    for (const form of [value, Buffer.from(value).toString('base64')])
      for (const [where, text] of places) if (text.includes(form)) found.push(`${name} in ${where}`);
  console.log(`# sentinel: ${wanted.length} secrets × ${places.length} places scanned`);
  assert.deepEqual(found, []);
});

test(
  'in-cluster guard: a hand revert is local again within one guard period; with the guard down, applies still work and the pivot holds; back up, it repairs without a new run',
  { timeout: 300_000 },
  async () => {
    const cluster = KubeCluster.connect(e.kube.kubeconfig);
    const local = `${e.gitea.url}/${privateOrg}/${values.gitea.repo}`;
    const before =
      (await k.core.readNamespacedConfigMap({ name: values.status.configMapName, namespace: NS })).data ?? {};
    assert.equal(before.cutoverComplete, 'true', 'the cutover above completed');
    const repoURL = async () => (await getFlux(cluster, 'gitrepositories', 'flux-system', 'openova')).spec.url;
    const apiEnv = async () =>
      (
        await k.apps.readNamespacedDeployment({ name: 'catalyst-api', namespace: 'catalyst-system' })
      ).spec?.template.spec?.containers[0]?.env?.find((v) => v.name === values.catalystAPI.envVar)?.value;

    // The pin intake holds Flux on the verified head (ADR 0017); writing that hold makes the owning
    // Kustomization re-apply the GitRepository, which would put a revert back before the guard looks.
    await eventually(
      'the pin hold to be in place and applied',
      async () => {
        const status = (await k.core.readNamespacedConfigMap({ name: values.status.configMapName, namespace: NS }))
          .data;
        const repo = await getFlux(cluster, 'gitrepositories', 'flux-system', 'openova');
        const owner = ownerOf(repo.metadata.labels);
        const kustomization = owner && (await getOwner(cluster, KUSTOMIZATIONS, owner.ref));
        return (
          Boolean(status?.pinsVerifiedRevision) &&
          repo.spec.ref?.commit === status?.pinsVerifiedRevision &&
          kustomization?.status?.observedGeneration === kustomization?.metadata.generation
        );
      },
      90_000,
    );

    // A revert by hand, as `kubectl apply` of an old manifest would do it.
    const reverted = performance.now();
    await patchFlux(cluster, 'gitrepositories', 'flux-system', 'openova', { spec: { url: e.git.repoURL } });
    await eventually('the guard to put the GitRepository back', async () => (await repoURL()) === local, 90_000);
    const latency = (performance.now() - reverted) / 1000;
    console.log(`# guard repair latency: ${latency.toFixed(1)} s (guard period ${values.guard.periodSeconds} s)`);
    // One period, plus the service's 5 s reconcile tick and the repair itself.
    assert.ok(latency <= values.guard.periodSeconds + 15, `repaired after ${latency.toFixed(1)} s`);

    // The guard goes away (the controller Deployment scaled to zero)…
    const controller = { name: CONTROLLER_NAME, namespace: NS };
    const scale = (replicas: number) =>
      k.apps.patchNamespacedDeployment({ ...controller, body: { spec: { replicas } } }, mergePatch);
    await scale(0);
    await eventually(
      'the cutover controller pod to go',
      async () =>
        (
          await k.core.listNamespacedPod({
            namespace: NS,
            labelSelector: 'app.kubernetes.io/component=cutover-controller',
          })
        ).items.length === 0,
      60_000,
    );
    // …and Flux carries on: three forced reconciles of everything apply fine, and the pivot holds.
    for (let round = 1; round <= 3; round++) {
      await reconcileAll(cluster);
      assert.equal(await repoURL(), local, `GitRepository local after reconcile ${round} without the guard`);
      assert.equal(await apiEnv(), local, `env local after reconcile ${round} without the guard`);
    }
    // A revert while the guard is down stays until the guard is back.
    await k.apps.patchNamespacedDeployment({
      name: 'catalyst-api',
      namespace: 'catalyst-system',
      body: [{ op: 'replace', path: '/spec/template/spec/containers/0/env/0/value', value: e.git.repoURL }],
    });
    assert.equal(await apiEnv(), e.git.repoURL);
    const back = performance.now();
    await scale(1);
    await eventually('the guard, back, to repair the env var', async () => (await apiEnv()) === local, 120_000);
    console.log(
      `# guard back up: env repaired ${((performance.now() - back) / 1000).toFixed(1)} s after the controller was scaled up`,
    );
    const after =
      (await k.core.readNamespacedConfigMap({ name: values.status.configMapName, namespace: NS })).data ?? {};
    assert.equal(after.cutoverComplete, 'true');
    assert.equal(after.cutoverStartedAt, before.cutoverStartedAt, 'no new run was started');
    assert.match(after[recheckKey('catalyst-api-env-patch', 'repairedAt')] ?? '', /^\d{4}-/, 'the repair is recorded');
    // The GitRepository revert may be undone by Flux before the guard looks: the revert changes the
    // source's artifact, and its Kustomization re-applies the durable entry. Then there was nothing to repair.
    if (!after[recheckKey('flux-gitrepository-patch', 'repairedAt')])
      console.log(
        '# the GitRepository revert was undone by Flux re-applying the durable entry, before the guard looked',
      );
  },
);

test(
  'in-cluster: a sovereign-admin rolls the cutover back from the console API: the plan names each change, the runner restores the tethered state with zero 403s (issue 16 §1)',
  { timeout: 300_000 },
  async () => {
    const apiURL = `http://127.0.0.1:${values.api.port}`;
    const readStatus = async () =>
      (await k.core.readNamespacedConfigMap({ name: values.status.configMapName, namespace: NS })).data ?? {};
    assert.equal((await readStatus()).cutoverComplete, 'true', 'runs on the cutover the first test completed');
    const admin = await signIn(apiURL, 'admin');
    const auditFrom = statSync(AUDIT_LOG).size;
    const plan = (await (
      await fetch(`${apiURL}/api/v1/sovereign/cutover/rollback`, { headers: { cookie: admin.cookie } })
    ).json()) as { changes: Array<{ action: string; target: string; detail?: string }> };
    assert.ok(
      plan.changes.some(
        (c) => c.target === `GitRepository ${values.gitopsRepository.namespace}/${values.gitopsRepository.name}`,
      ),
      JSON.stringify(plan.changes),
    );
    const started = performance.now();
    const post = await fetch(`${apiURL}/api/v1/sovereign/cutover/rollback`, {
      method: 'POST',
      headers: { cookie: admin.cookie, 'x-csrf-token': admin.csrfToken, origin: apiURL },
    });
    assert.equal(post.status, 202, await post.text());
    const done = await eventually(
      'the rollback to finish',
      async () => {
        const data = await readStatus();
        return data.rollbackResult === 'restored' || data.rollbackResult === 'failed' ? data : undefined;
      },
      240_000,
    );
    console.log(
      `# in-cluster rollback from the console API: ${((performance.now() - started) / 1000).toFixed(1)} s, ${done.rollbackChanges} change(s)`,
    );
    assert.equal(done.rollbackResult, 'restored', done.rollbackError);
    assert.equal(done.rollbackBy, 'admin');
    assert.equal(done.cutoverComplete, 'false');
    assert.equal(done.registriesYamlActive, 'v1');
    const repo = await getFlux(
      KubeCluster.connect(e.kube.kubeconfig),
      'gitrepositories',
      values.gitopsRepository.namespace,
      values.gitopsRepository.name,
    );
    assert.equal(repo.spec.url, e.git.repoURL, 'Flux follows upstream again');
    assert.equal(repo.metadata.annotations?.['cutover.openova.io/pre-pivot-revision'], undefined);
    const env = (
      await k.apps.readNamespacedDeployment({ name: 'catalyst-api', namespace: 'catalyst-system' })
    ).spec?.template.spec?.containers[0]?.env?.find((v) => v.name === values.catalystAPI.envVar)?.value;
    assert.equal(env, e.git.repoURL);

    await eventually('the rollback requests in the audit log', async () => auditSince(auditFrom).length > 0, 10_000);
    const runner = auditSince(auditFrom).filter((ev) => ev.user.username === `system:serviceaccount:${NS}:${RUNNER}`);
    const denied = runner
      .filter((ev) => ev.responseStatus?.code === 403)
      .map((ev) => `${ev.verb} ${JSON.stringify(ev.objectRef)}`);
    assert.deepEqual(denied, [], 'the runner may do everything a rollback does');
    const rollbackRules = runnerGrants(values, NS).filter((g) => g.onlyFor === 'rollback');
    const used = rollbackRules.filter((g) => g.verbs.some((verb) => runner.some((ev) => matches(g, ev, verb))));
    console.log(
      `# rollback rules used: ${used.map((g) => `${g.verbs.join(',')} ${g.resource}${g.namespace ? ` in ${g.namespace}` : ''}`).join('; ')}`,
    );
    assert.ok(
      used.some((g) => g.resource === 'gitrepositories'),
      'the journaled annotation written back',
    );
    assert.ok(
      used.some((g) => g.resource === 'secrets'),
      'the Secrets the cutover created deleted',
    );
    // The API showed the plan and wrote the request; the controller (the runner) did the rest.
    const api = auditSince(auditFrom).filter(
      (ev) => ev.user.username === `system:serviceaccount:${NS}:${API_SERVICE_ACCOUNT}`,
    );
    assert.deepEqual(
      api.filter((ev) => ev.responseStatus?.code === 403).map((ev) => `${ev.verb} ${JSON.stringify(ev.objectRef)}`),
      [],
      'the API may do everything the rollback preview and request need',
    );
    assert.deepEqual(
      unneeded(
        apiGrants(values, NS).filter((g) => g.onlyFor === 'rollback'),
        api,
      ),
      [],
      "the API's rollback rules (the preview's lists) each served a request",
    );
  },
);

test(
  'in-cluster: without one rule (read the Gitea admin Secret), the step that needs it fails with 403',
  { timeout: 120_000 },
  async () => {
    const rbac = k.rbac;
    await rbac.deleteNamespacedRole({ name: RUNNER, namespace: values.gitea.adminSecretRef.namespace });
    try {
      const cm = await k.core.readNamespacedConfigMap({ name: 'cutover-step-01-gitea-mirror', namespace: NS });
      const podSpec = (await import('yaml')).parse(cm.data?.podSpec ?? '');
      const name = `cutover-gitea-mirror-without-rule-${Date.now() % 100000}`;
      await k.batch.createNamespacedJob({
        namespace: NS,
        body: {
          metadata: { name, labels: { 'app.kubernetes.io/component': 'cutover-job' } },
          spec: { backoffLimit: 0, ttlSecondsAfterFinished: 600, template: { spec: podSpec } },
        },
      });
      const message = await eventually(
        'the step Job to fail',
        async () => {
          const pods = (await k.core.listNamespacedPod({ namespace: NS, labelSelector: `job-name=${name}` })).items;
          const terminated = pods[0]?.status?.containerStatuses?.[0]?.state?.terminated;
          return terminated && terminated.exitCode !== 0 ? (terminated.message ?? '') : undefined;
        },
        90_000,
      );
      assert.match(message, /403/);
      assert.match(message, /secrets/);
    } finally {
      await serverSideApply(
        k.config,
        render(values, { namespace: NS, valuesText, version: '0.1.0' }).filter(
          (o) => o.kind === 'Role',
        ) as KubernetesObject[],
        'operator',
      );
    }
  },
);
