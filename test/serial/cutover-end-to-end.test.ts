// Runs alone: the whole chain on the lab's tethered Sovereign through the CLI, then a second run,
// then the lab is reset to tethered. Also: an engine killed during harbor-prewarm and again during
// the egress window is resumed by the next run, which completes with no leaked hold. After the
// cutover, a workload applied by hand with a new upstream image starts once cutover serve's intake
// copied its image in (mirror mode: the nodes have no upstream to fall back on).
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, test } from 'node:test';
import { KubeCluster } from '../../src/adapters/kube/cluster.ts';
import { STEP_IDS, stepKey } from '../../src/core/contracts.ts';
import { parseValues } from '../../src/core/values.ts';
import { StatusStore } from '../../src/adapters/kube/status-store.ts';
import { getFlux, patchFlux, readyCondition } from '../../src/adapters/kube/flux.ts';
import { cutUpstream, resetSovereign, restoreUpstream } from '../../lab/lab.ts';
import { eventually, kube, testNamespace } from '../support/kube.ts';
import { dropHarborProject, lab, pushFile, pushFreshImage, uniqueName } from '../support/lab.ts';
import { GITOPS_BARE_DIR } from '../../lab/git/git.ts';
import { buildStepEnv } from '../../src/composition.ts';
import { labValuesFile, startServe } from '../support/api.ts';
import { AWAITING_APPROVAL, intakeWindow, windowSummary } from '../../src/core/intake-window.ts';
import { sovereignCondition } from '../../src/core/sovereign-condition.ts';
import { DistributionClient } from '../../src/adapters/oci/distribution-client.ts';
import { LAB_DIR, PORTS } from '../../lab/topology.ts';
import { daemonPid } from '../../lab/processes.ts';

const e = lab();
const k = kube();
const cluster = KubeCluster.connect(e.kube.kubeconfig);
const values = parseValues(readFileSync(e.valuesFile, 'utf8'));
const store = new StatusStore(cluster, 'catalyst', values.status.configMapName);
const cli = new URL('../../src/cli/main.ts', import.meta.url).pathname;
const args = ['run', '-f', e.valuesFile, '--kubeconfig', e.kube.kubeconfig, '-n', 'catalyst'];
const quiet = (): void => {};
const cleanups: Array<() => Promise<unknown>> = [];
after(async () => {
  await restoreUpstream(quiet);
  for (const cleanup of cleanups.reverse()) await cleanup();
  await resetSovereign(quiet);
});

/** A one-container Deployment in catalyst-system, as upstream would commit it. */
const deployment = (name: string, image: string): string =>
  [
    'apiVersion: apps/v1',
    'kind: Deployment',
    `metadata: { name: ${name}, namespace: catalyst-system }`,
    'spec:',
    `  selector: { matchLabels: { app: ${name} } }`,
    '  template:',
    `    metadata: { labels: { app: ${name} } }`,
    `    spec: { containers: [{ name: app, image: "${image}" }] }`,
    '',
  ].join('\n');

/** The status once the pin radar of `api` has read `commit`. */
const radarRead = (commit: string, api: { output: () => string }) =>
  eventually(
    'the radar to read the new revision',
    async () => {
      const d = await store.read();
      return d?.pinsRevision === commit ? d : undefined;
    },
    60_000,
    async () => api.output(),
  );

const holds = async () =>
  (
    await k.config
      .makeApiClient((await import('@kubernetes/client-node')).NetworkingV1Api)
      .listNetworkPolicyForAllNamespaces({ labelSelector: 'app.kubernetes.io/component=cutover-egress-hold' })
  ).items.length;

test('cutover run: all eight steps succeed, every tether is local, fresh pods pull through the local Harbor with upstream cut; a second run changes nothing; after a revert the next run repairs that step alone', async () => {
  await resetSovereign(quiet);
  const started = performance.now();
  const first = spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8' });
  const seconds = (performance.now() - started) / 1000;
  assert.equal(first.status, 0, `${first.stdout}\n${first.stderr}`);
  console.log(
    `# end-to-end cutover: ${seconds.toFixed(1)} s, of which the egress window ${values.egressTest.durationSeconds} s`,
  );
  const data = (await store.read())!;
  for (const id of STEP_IDS) assert.equal(data[stepKey(id, 'result')], 'success', id);
  assert.equal(data.cutoverComplete, 'true');
  assert.equal(data.registriesYamlActive, 'v2');

  const repo = await getFlux(cluster, 'gitrepositories', 'flux-system', 'openova');
  assert.equal(repo.spec.url, `${e.gitea.url}/${values.gitea.org}/${values.gitea.repo}`);
  assert.equal(readyCondition(repo)?.status, 'True');
  assert.equal(repo.status?.artifact?.revision, repo.metadata.annotations?.['cutover.openova.io/pre-pivot-revision']);
  const helmRepos = (await k.custom.listNamespacedCustomObject({
    group: 'source.toolkit.fluxcd.io',
    version: 'v1',
    namespace: 'flux-system',
    plural: 'helmrepositories',
  })) as { items: Array<{ spec: { url: string } }> };
  for (const r of helmRepos.items) assert.ok(r.spec.url.startsWith(`oci://${e.localHarbor.host}/`), r.spec.url);
  // The OCIRepository was prewarmed (03) and pivoted (06): Ready from the local Harbor.
  const oci = await getFlux(cluster, 'ocirepositories', 'flux-system', 'platform-chart');
  assert.ok(oci.spec.url?.startsWith(`oci://${e.localHarbor.host}/`), oci.spec.url);
  assert.equal(readyCondition(oci)?.status, 'True', JSON.stringify(oci.status?.conditions));
  assert.equal(oci.status?.observedGeneration, oci.metadata.generation);
  const api = await k.apps.readNamespacedDeployment({ name: 'catalyst-api', namespace: 'catalyst-system' });
  assert.ok(
    api.spec?.template.spec?.containers[0]?.env
      ?.find((v) => v.name === 'CATALYST_GITOPS_REPO_URL')
      ?.value?.startsWith(e.gitea.url),
  );
  assert.equal(await holds(), 0, 'no hold left');

  // The tether inventory, as the operator sees it (pull Secrets too): nothing left but exempt rows.
  const inventory = spawnSync(
    process.execPath,
    [cli, 'tethers', '-f', e.valuesFile, '--kubeconfig', e.kube.kubeconfig, '-n', 'catalyst', '-o', 'json'],
    { encoding: 'utf8' },
  );
  assert.equal(inventory.status, 0, inventory.stderr);
  const { summary, tethers } = JSON.parse(inventory.stdout) as {
    summary: { tethered: number; unmapped: number; exempt: number; pivoted: number; unreadable: string[] };
    tethers: Array<{ state: string; object: string; field: string; upstream: string }>;
  };
  assert.deepEqual(summary.unreadable, [], 'every source was read');
  assert.deepEqual(
    tethers.filter((t) => t.state !== 'exempt').map((t) => `${t.state} ${t.object} ${t.field} ${t.upstream}`),
    [],
    'only exempt tethers remain',
  );
  assert.ok(summary.pivoted > 10 && summary.exempt > 0);
  // No exemption for the pull Secret any more: after the pull proof it holds the local Harbor's robot only.
  const pull = await k.core.readNamespacedSecret({ name: 'ghcr-pull', namespace: 'flux-system' });
  const pullAuths = (
    JSON.parse(Buffer.from(pull.data?.['.dockerconfigjson'] ?? '', 'base64').toString()) as {
      auths: Record<string, unknown>;
    }
  ).auths;
  assert.deepEqual(Object.keys(pullAuths), [e.localHarbor.host], 'upstream credentials stripped after the pull proof');

  // With upstream cut, a fresh pod on each node pulls an upstream-named image through the local Harbor.
  const namespace = await testNamespace('sovereign', cleanups);
  await cutUpstream(quiet);
  for (const node of ['node-a', 'node-b']) {
    await k.core.createNamespacedPod({
      namespace,
      body: {
        metadata: { name: `fresh-${node}` },
        spec: {
          nodeName: node,
          restartPolicy: 'Never',
          containers: [
            { name: 'app', image: `${e.upstreams.docker.host}/library/postgres:16`, imagePullPolicy: 'Always' },
          ],
        },
      },
    });
  }
  for (const node of ['node-a', 'node-b']) {
    await eventually(
      `fresh pod on ${node} running with upstream cut`,
      async () => (await k.core.readNamespacedPod({ name: `fresh-${node}`, namespace })).status?.phase === 'Running',
      60_000,
    );
  }
  await restoreUpstream(quiet);

  const second = spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8' });
  assert.equal(second.status, 0, second.stderr);
  assert.match(second.stdout, /already complete/);

  // A revert puts the upstream URL back (as Flux re-applying Git would): the next run re-verifies,
  // finds that one step drifted, and runs it — and only it — again.
  await patchFlux(cluster, 'gitrepositories', 'flux-system', 'openova', { spec: { url: e.git.repoURL } });
  const third = spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8' });
  assert.equal(third.status, 0, `${third.stdout}\n${third.stderr}`);
  assert.match(
    third.stdout,
    /↺ flux-gitrepository-patch drifted \(GitRepository flux-system\/openova: live object not pivoted \(durable: spec\.patches on its Kustomization flux-system\/flux-system\)/,
  );
  assert.deepEqual(third.stdout.match(/↺ [a-z-]+/g), ['↺ flux-gitrepository-patch'], 'nothing else drifted');
  const repaired = await getFlux(cluster, 'gitrepositories', 'flux-system', 'openova');
  assert.equal(repaired.spec.url, `${e.gitea.url}/${values.gitea.org}/${values.gitea.repo}`);
  assert.equal(readyCondition(repaired)?.status, 'True');
  const shown = spawnSync(process.execPath, [cli, 'status', '--kubeconfig', e.kube.kubeconfig, '-n', 'catalyst'], {
    encoding: 'utf8',
  });
  assert.match(
    shown.stdout,
    /success +flux-gitrepository-patch +repaired \d{4}-.* \(drifted: GitRepository flux-system\/openova/,
  );
  assert.match(shown.stdout, /success +catalyst-api-env-patch +re-verified \d{4}-/);
});

test('after the cutover, a workload applied by hand with a new upstream image: cutover serve sees it through its Pod watch, copies it in and its pod starts (issue 15 acceptance 3)', async () => {
  assert.equal((await store.read())?.cutoverComplete, 'true', 'runs on the cutover the test before completed');
  const namespace = await testNamespace('by-hand', cleanups);
  const repo = `openova-io/${uniqueName('by-hand')}`;
  const digest = await pushFreshImage(new DistributionClient(e.upstreams.ghcr.url), repo, '1.0.0');
  // The full sweep every 10 min: what brings the look forward is the Pod watch.
  const api = await startServe(PORTS.api + 7, 'catalyst', {
    guard: { periodSeconds: 0, mirrorCheckSeconds: 1 },
    intake: { periodSeconds: 600 },
  });
  cleanups.push(() => api.stop());
  await eventually(
    'the first intake',
    async () => /pins of [0-9a-f]{12}/.test(api.output()),
    60_000,
    async () => api.output(),
  );
  const applied = performance.now();
  await k.core.createNamespacedPod({
    namespace,
    body: {
      metadata: { name: 'by-hand' },
      spec: { containers: [{ name: 'app', image: `${e.upstreams.ghcr.host}/${repo}:1.0.0` }] },
    },
  });
  await eventually(
    'the pod to run on its node, pulled from the local Harbor',
    async () => (await k.core.readNamespacedPod({ name: 'by-hand', namespace })).status?.phase === 'Running',
    120_000,
    async () => api.output(),
  );
  const running = (performance.now() - applied) / 1000;
  console.log(
    `# a workload applied by hand: its new upstream image copied in and the pod Running ${running.toFixed(1)} s after it was applied (seen by the Pod watch; the full sweep every 600 s; the kubelet's pull back-off included)`,
  );
  assert.ok(running < 60, 'the watch, not the sweep, brought the copy');
  const local = new DistributionClient(e.localHarbor.url, e.localHarbor);
  const row = values.harbor.hostProjects.find((r) => r.host === e.upstreams.ghcr.host);
  assert.equal((await local.headManifest(`${row?.project}/${repo}`, '1.0.0'))?.digest, digest, 'copied by digest');
  assert.match(api.output(), /1 copied into the local Harbor/);
  assert.match(
    api.output(),
    new RegExp(`intake: \\S+/${repo}:1\\.0\\.0 → .*\\(pinned by a Pod \\(seen by the watch\\)\\)`),
    'an incremental look (no re-list) copied it',
  );
  await api.stop(); // the next test runs its own
});

test('after the cutover, Flux is held on the last revision whose pins are all local; once upstream serves the missing image it is copied in and Flux is let on (issue 15 §2, auto)', async () => {
  assert.equal((await store.read())?.cutoverComplete, 'true', 'runs on the cutover completed before');
  const file = 'products/catalyst/held.yaml';
  const repoPath = `openova-io/${uniqueName('held')}`;
  const image = `${e.upstreams.ghcr.host}/${repoPath}:1.0.0`;
  cleanups.push(async () => pushFile(GITOPS_BARE_DIR, file, '# removed by the test that added it\n'));
  const api = await startServe(PORTS.api + 8, 'catalyst', {
    guard: { periodSeconds: 0, mirrorCheckSeconds: 1 },
    intake: { periodSeconds: 5 },
  });
  cleanups.push(() => api.stop());
  const env = await buildStepEnv(values, cluster, 'catalyst');
  const gitRepo = () => getFlux(cluster, 'gitrepositories', 'flux-system', 'openova');
  const head = await env.forge.branchHead(values.gitea.org, values.gitea.repo, values.upstream.branch);
  await eventually(
    'Flux held on the verified head',
    async () => (await gitRepo()).spec.ref?.commit === head,
    90_000,
    async () => api.output(),
  );

  // Upstream pins an image nobody serves yet: the revision is read, its pin is pending, Flux stays.
  const commit = pushFile(GITOPS_BARE_DIR, file, deployment('held', image));
  await env.forge.mirrorSync(values.gitea.org, values.gitea.repo);
  const read = await radarRead(commit, api);
  assert.ok((JSON.parse(read.pinsPending ?? '[]') as Array<{ ref: string }>).some((p) => p.ref === image));
  assert.equal(read.pinsVerifiedRevision, head);
  await sleep(10_000); // two more looks: nothing moves Flux while the pin is pending
  const still = await gitRepo();
  assert.equal(still.spec.ref?.commit, head, 'Flux held');
  assert.equal(still.status?.artifact?.revision, `${values.upstream.branch}@sha1:${head}`);
  assert.equal(
    (await k.apps.listNamespacedDeployment({ namespace: 'catalyst-system', labelSelector: 'app=held' })).items.length,
    0,
    'the held revision was never applied',
  );

  // Upstream serves it: the next look copies it, lets Flux on, and the workload runs from the local Harbor.
  const served = performance.now();
  await pushFreshImage(new DistributionClient(e.upstreams.ghcr.url), repoPath, '1.0.0');
  await eventually('Flux let onto the new revision', async () => (await gitRepo()).spec.ref?.commit === commit, 60_000);
  await eventually(
    'the new workload running',
    async () =>
      (await k.core.listNamespacedPod({ namespace: 'catalyst-system', labelSelector: 'app=held' })).items.some(
        (p) => p.status?.phase === 'Running',
      ),
    120_000,
    async () => api.output(),
  );
  console.log(
    `# held revision: upstream served the image → copied, Flux let on, the pod Running ${((performance.now() - served) / 1000).toFixed(1)} s later (intake every 5 s)`,
  );
  await api.stop(); // the next test runs its own, in another intake mode
});

/** Starts `cutover run` and signals it the moment it prints `marker`; returns after it ended, with what it said. */
/** Runs the CLI and, once `marker` is printed, does `act` (a kill, an abort from another process). */
async function runUntil(
  marker: string,
  act: (child: ChildProcess) => unknown,
  command: string[] = args,
): Promise<{ code: number | null; output: string }> {
  const child = spawn(process.execPath, [cli, ...command], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  const ended = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const seen = await new Promise<boolean>((resolve) => {
    let acted = false;
    const read = (chunk: Buffer) => {
      output += chunk.toString();
      if (output.includes(marker) && !acted) {
        acted = true;
        void act(child);
        resolve(true);
      }
    };
    child.stdout.on('data', read);
    child.stderr.on('data', read);
    void ended.then(() => resolve(false));
  });
  const code = await ended;
  assert.ok(seen, `the run ended before printing "${marker}":\n${output}`);
  return { code, output };
}

const killAt = (marker: string, signal: NodeJS.Signals = 'SIGKILL', command: string[] = args) =>
  runUntil(marker, (child) => child.kill(signal), command);

/** The CLI in another process, without blocking this one (the run it acts on keeps writing to our pipes). */
function cliAsync(command: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [cli, ...command], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  return new Promise((resolve) => child.once('exit', (code) => resolve({ code, stdout, stderr })));
}

test('after the cutover, intake.mode request: a new revision is neither copied nor let on until an operator approves it; approved with upstream cut it stays held, and goes through once upstream is back; approver, copies and window recorded, each decision an Event (issue 15 §2-3)', async () => {
  assert.equal((await store.read())?.cutoverComplete, 'true', 'runs on the cutover completed before');
  const file = 'products/catalyst/requested.yaml';
  const repoPath = `openova-io/${uniqueName('requested')}`;
  const image = `${e.upstreams.ghcr.host}/${repoPath}:1.0.0`;
  cleanups.push(async () => pushFile(GITOPS_BARE_DIR, file, '# removed by the test that added it\n'));
  const overrides = { intake: { mode: 'request', periodSeconds: 5, windowSeconds: 300 } };
  const api = await startServe(PORTS.api + 9, 'catalyst', {
    guard: { periodSeconds: 0, mirrorCheckSeconds: 1 },
    ...overrides,
  });
  cleanups.push(() => api.stop());
  const env = await buildStepEnv(values, cluster, 'catalyst');
  const gitRepo = () => getFlux(cluster, 'gitrepositories', 'flux-system', 'openova');
  const heldAt = (await store.read())?.pinsVerifiedRevision ?? '';
  assert.match(heldAt, /^[0-9a-f]{40}$/, 'Flux is held on a verified revision (the test before)');
  const row = values.harbor.hostProjects.find((r) => r.host === e.upstreams.ghcr.host);
  const local = new DistributionClient(e.localHarbor.url, {
    username: e.localHarbor.username,
    password: e.localHarbor.password,
  });
  const localCopy = () => local.headManifest(`${row?.project}/${repoPath}`, '1.0.0');

  // Upstream serves the image and a commit pins it: the radar reads it, copies nothing, lets Flux on to nothing.
  await pushFreshImage(new DistributionClient(e.upstreams.ghcr.url), repoPath, '1.0.0');
  const commit = pushFile(GITOPS_BARE_DIR, file, deployment('requested', image));
  await env.forge.mirrorSync(values.gitea.org, values.gitea.repo);
  const read = await radarRead(commit, api);
  const pending = JSON.parse(read.pinsPending ?? '[]') as Array<{ ref: string; reason: string }>;
  assert.deepEqual(pending.find((p) => p.ref === image)?.reason, AWAITING_APPROVAL);
  assert.equal(sovereignCondition(read).reason, 'AwaitingApproval');
  await sleep(10_000); // two more looks
  assert.equal(await localCopy(), undefined, 'nothing copied without an approval');
  assert.equal((await gitRepo()).spec.ref?.commit, heldAt, 'Flux held without an approval');

  // Approved while upstream is cut: the window opens, the copy cannot be made, Flux stays held.
  await cutUpstream(quiet);
  const approver = await cluster.whoAmI();
  const approval = spawnSync(
    process.execPath,
    [
      cli,
      'intake',
      'approve',
      '--revision',
      commit,
      '-f',
      labValuesFile(overrides),
      '--kubeconfig',
      e.kube.kubeconfig,
      '-n',
      'catalyst',
    ],
    { encoding: 'utf8' },
  );
  assert.equal(approval.status, 0, approval.stderr);
  assert.match(
    approval.stdout,
    new RegExp(`delivery window for ${commit.slice(0, 12)} open since .* \\(approved by ${approver},`),
  );
  const held = await eventually(
    'the approved copy to fail while upstream is cut',
    async () => {
      const d = await store.read();
      const p = (JSON.parse(d?.pinsPending ?? '[]') as Array<{ ref: string; reason: string }>).find(
        (x) => x.ref === image,
      );
      return p && p.reason !== AWAITING_APPROVAL ? d : undefined;
    },
    60_000,
    async () => api.output(),
  );
  assert.equal(sovereignCondition(held).reason, 'RevisionHeld');
  assert.equal(intakeWindow(held)?.outcome, 'open');
  assert.equal((await gitRepo()).spec.ref?.commit, heldAt, 'Flux held while the pins cannot be copied');

  // Upstream back: the open window copies it and Flux goes on, with no further operator action.
  const restored = performance.now();
  await restoreUpstream(quiet);
  await eventually(
    'Flux let onto the approved revision',
    async () => (await gitRepo()).spec.ref?.commit === commit,
    90_000,
    async () => api.output(),
  );
  await eventually(
    'the approved workload running',
    async () =>
      (await k.core.listNamespacedPod({ namespace: 'catalyst-system', labelSelector: 'app=requested' })).items.some(
        (p) => p.status?.phase === 'Running',
      ),
    120_000,
  );
  console.log(
    `# request mode: upstream restored → copied, Flux let on, pod Running ${((performance.now() - restored) / 1000).toFixed(1)} s later (intake every 5 s)`,
  );
  const window = intakeWindow((await store.read())!)!;
  assert.deepEqual(
    [window.revision, window.approvedBy, window.outcome, window.copied.includes(image)],
    [commit, approver, 'verified', true],
  );
  console.log(`# request mode: ${windowSummary(window)}`);
  const reasons = (await cluster.events.listNamespacedEvent({ namespace: 'catalyst' })).items
    .filter(
      (ev) =>
        ev.regarding?.name === values.status.configMapName &&
        Date.parse(String(ev.eventTime)) >= Date.parse(window.approvedAt) - 60_000,
    )
    .map((ev) => ev.reason);
  for (const reason of ['RevisionHeld', 'IntakeApproved', 'PinsCopied', 'RevisionVerified', 'IntakeWindowClosed'])
    assert.ok(reasons.includes(reason), `an Event ${reason} (got ${reasons.join(', ')})`);
  await api.stop();
});

test('SIGTERM during the egress window: cutover run removes the hold before it exits, and the run is failed with the reason', async () => {
  await resetSovereign(quiet);
  const { code, output } = await killAt('egress hold applied', 'SIGTERM');
  assert.notEqual(code, 0, output);
  assert.equal(await holds(), 0, 'no hold left when it exited');
  assert.match(output, /SIGTERM received; stopping the running step/);
  assert.match(output, /egress hold removed/);
  const data = (await store.read())!;
  assert.equal(data.failedStep, 'egress-block-test');
  assert.match(data.lastError ?? '', /cutover run was stopped by SIGTERM/);
  assert.equal(data[stepKey('egress-block-test', 'result')], 'failed');

  // The same for `cutover step`, a step Job's entrypoint (the kubelet's SIGTERM at the Job's deadline).
  const step = await killAt('egress hold applied', 'SIGTERM', ['step', 'egress-block-test', ...args.slice(1)]);
  assert.notEqual(step.code, 0, step.output);
  assert.match(step.output, /cutover step egress-block-test was stopped by SIGTERM/);
  assert.equal(await holds(), 0, 'no hold left when the step exited');
});

test('cutover abort stops a run during harbor-prewarm and during the egress window at a safe point: the hold removed, the Lease freed, who aborted recorded; Ctrl-C during the egress window does the same locally (issue 16 §2)', async () => {
  await resetSovereign(quiet);
  const abortArgs = ['abort', '--yes', '--kubeconfig', e.kube.kubeconfig, '-n', 'catalyst'];
  const idle = await cliAsync(abortArgs);
  assert.equal(idle.code, 0, idle.stderr);
  assert.match(idle.stdout, /no cutover is running: nothing to abort/);
  assert.match(idle.stderr, /cutover abort: API server https:\/\/\S+, context \S+, install namespace catalyst/);

  // Step 03 has work to do (a project emptied) and upstream ghcr stops answering as it starts (the
  // registry process frozen): the abort lands while 03 waits on a peer gone mid-step.
  await dropHarborProject('proxy-ghcr');
  const ghcr = daemonPid(join(LAB_DIR, 'upstreams', 'ghcr', 'registry.pid'));
  assert.ok(ghcr, 'the upstream ghcr registry runs');
  let abort: Promise<{ code: number | null; stdout: string; stderr: string }> | undefined;
  let during03: { code: number | null; output: string };
  try {
    during03 = await runUntil('▶ harbor-prewarm', () => {
      process.kill(ghcr, 'SIGSTOP');
      abort = cliAsync(abortArgs);
    });
  } finally {
    process.kill(ghcr, 'SIGCONT');
  }
  const answer = await abort!;
  assert.notEqual(during03.code, 0, during03.output);
  assert.equal(answer.code, 0, answer.stderr);
  assert.match(answer.stdout, /aborted by \S+ at \S+: stopped at harbor-prewarm; the Lease is free/);
  let data = (await store.read())!;
  assert.equal(data.failedStep, 'harbor-prewarm');
  assert.equal(data[stepKey('harbor-prewarm', 'result')], 'failed');
  assert.equal(data.registriesYamlActive, 'v1', 'the nodes were never told to pivot');
  assert.match(data.abortedBy ?? '', /\S/);
  assert.equal(data.currentStep, '');

  const during08 = await runUntil('egress hold applied', () => (abort = cliAsync(abortArgs)));
  const second = await abort!;
  assert.notEqual(during08.code, 0, during08.output);
  assert.match(second.stdout, /stopped at egress-block-test; the Lease is free/);
  assert.equal(await holds(), 0, 'no hold left');
  data = (await store.read())!;
  assert.equal(data.failedStep, 'egress-block-test');
  assert.match(data.lastError ?? '', /aborted by/);
  const shown = spawnSync(process.execPath, [cli, 'status', '--kubeconfig', e.kube.kubeconfig, '-n', 'catalyst'], {
    encoding: 'utf8',
  });
  assert.match(shown.stdout, /aborted by \S+ at \d{4}-/);

  const ctrlC = await killAt('egress hold applied', 'SIGINT');
  assert.notEqual(ctrlC.code, 0, ctrlC.output);
  assert.match(ctrlC.output, /SIGINT received; stopping the running step/);
  assert.equal(await holds(), 0, 'no hold left after Ctrl-C');
  data = (await store.read())!;
  assert.equal(data.failedStep, 'egress-block-test');
  assert.match(data.lastError ?? '', /cutover run was stopped by SIGINT/);
});

test('an engine killed during harbor-prewarm and again during the egress window is resumed; the run completes with no leaked hold', async () => {
  await resetSovereign(quiet);
  await killAt('▶ harbor-prewarm');
  assert.equal((await store.read())?.[stepKey('harbor-prewarm', 'result')], 'running', 'left mid-step');
  // The dead engine's Lease must expire before another may run (single flight).
  await sleep(31_000);
  await killAt('egress hold applied');
  assert.ok((await holds()) > 0, 'a hold was left behind by the kill');
  await sleep(31_000);
  const rerun = spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8' });
  assert.equal(rerun.status, 0, `${rerun.stdout}\n${rerun.stderr}`);
  assert.match(rerun.stdout, /reaped \d+ egress hold/);
  assert.match(rerun.stdout, /✔ harbor-prewarm \(already done\)/);
  assert.equal(await holds(), 0);
  assert.equal((await store.read())?.cutoverComplete, 'true');
});
