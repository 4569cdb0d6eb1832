// `cutover check` on the lab (issue 16 §3): every check passes on the tethered Sovereign, and three
// injected faults are each reported as a blocking failure with exit 1 — a missing RBAC rule (the
// check run as a ServiceAccount bound to the runner's rules but one), an unreachable Harbor, and an
// egress hold whose allow-list lacks the apiserver (probe pods under a trial hold cannot reach it).
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { KubeConfig, type KubernetesObject } from '@kubernetes/client-node';
import { parse, stringify } from 'yaml';
import { serverSideApply } from '../src/adapters/kube/apply.ts';
import type { CheckResult } from '../src/core/check.ts';
import { parseValues } from '../src/core/values.ts';
import { runnerGrants } from '../src/render/rbac.ts';
import { rbacObjects } from '../src/render/render.ts';
import { kube, testNamespace } from './support/kube.ts';
import { cleanupsAfterAll, lab, uniqueName } from './support/lab.ts';

const e = lab();
const k = kube();
const cli = new URL('../src/cli/main.ts', import.meta.url).pathname;
const dir = mkdtempSync(join(tmpdir(), 'cutover-check-'));
const cleanups = cleanupsAfterAll();

function check(
  kubeconfig: string,
  valuesFile = e.valuesFile,
): Promise<{ code: number | null; out: string; err: string }> {
  const child = spawn(
    process.execPath,
    [cli, 'check', '-f', valuesFile, '--kubeconfig', kubeconfig, '-n', 'catalyst', '-o', 'json'],
    {
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let out = '';
  let err = '';
  child.stdout.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr.on('data', (c: Buffer) => (err += c.toString()));
  return new Promise((resolve) => child.once('exit', (code) => resolve({ code, out, err })));
}

const results = (out: string) => (JSON.parse(out) as { ok: boolean; checks: CheckResult[] }).checks;
const failing = (out: string) =>
  results(out)
    .filter((r) => r.status === 'fail')
    .map((r) => r.name);

/** The lab's values with one change, in a file. */
function valuesWith(name: string, change: (doc: Record<string, Record<string, unknown>>) => void): string {
  const doc = parse(readFileSync(e.valuesFile, 'utf8')) as Record<string, Record<string, unknown>>;
  change(doc);
  const file = join(dir, `${name}.yaml`);
  writeFileSync(file, stringify(doc));
  return file;
}

test('cutover check: every blocking check passes on the lab, one line (or JSON object) per check, exit 0', async () => {
  const r = await check(e.kube.kubeconfig);
  assert.equal(r.code, 0, `${r.out}\n${r.err}`);
  assert.deepEqual(failing(r.out), []);
  const names = results(r.out).map((c) => c.name);
  for (const name of ['rbac', 'harbor', 'gitea', 'flux-api', 'pod-security', 'hold-rehearsal', 'architectures'])
    assert.ok(names.includes(name), `${name} was checked`);
  const rehearsal = results(r.out).find((c) => c.name === 'hold-rehearsal');
  assert.match(rehearsal?.detail ?? '', /reaches the apiserver, Harbor and Gitea and not upstream/);
  assert.match(r.err, /cutover check: API server https:\/\/\S+, context \S+, install namespace catalyst/);
});

test('cutover check: an unreachable Harbor is a blocking failure (exit 1)', async () => {
  const file = valuesWith('no-harbor', (doc) => {
    doc.sovereign!.harborInternalURL = 'https://127.0.0.1:9/';
  });
  const r = await check(e.kube.kubeconfig, file);
  assert.equal(r.code, 1, r.err);
  assert.ok(failing(r.out).includes('harbor'), r.out);
  assert.match(r.err, /blocking check\(s\) failed: .*harbor/);
});

test('cutover check: a hold whose allow-list lacks the apiserver is a blocking failure — pods under the trial hold cannot reach it (exit 1)', async () => {
  const file = valuesWith('hold-without-apiserver', (doc) => {
    doc.egressTest!.apiserverCIDRs = ['192.0.2.1/32'];
  });
  const r = await check(e.kube.kubeconfig, file);
  assert.equal(r.code, 1, r.err);
  assert.deepEqual(failing(r.out), ['hold-rehearsal'], r.out);
  assert.match(results(r.out).find((c) => c.name === 'hold-rehearsal')?.detail ?? '', /cannot reach the apiserver/);
});

test('cutover check: run as an identity that lacks one rule of the run, rbac fails naming it (exit 1)', async () => {
  const values = parseValues(readFileSync(e.valuesFile, 'utf8'));
  const namespace = await testNamespace('check-rbac', cleanups);
  const name = uniqueName('check-sa');
  // The runner's rules, but for `patch` on Kustomizations in flux-system, bound to a ServiceAccount of this test.
  const grants = runnerGrants(values, 'catalyst').filter(
    (g) => !(g.resource === 'kustomizations' && g.namespace === 'flux-system' && g.verbs.includes('patch')),
  );
  const objects = rbacObjects(grants, 'catalyst', { test: name }).map((o) => {
    const copy = structuredClone(o) as KubernetesObject & { subjects?: unknown[]; roleRef?: { name: string } };
    copy.metadata = { ...copy.metadata, name };
    if (copy.roleRef) copy.roleRef.name = name;
    if (copy.subjects) copy.subjects = [{ kind: 'ServiceAccount', name, namespace }];
    return copy;
  });
  await k.core.createNamespacedServiceAccount({ namespace, body: { metadata: { name } } });
  await serverSideApply(k.config, objects, 'check-test');
  cleanups.push(async () => {
    for (const o of objects)
      if (o.kind === 'ClusterRole') await k.rbac.deleteClusterRole({ name }).catch(() => undefined);
      else if (o.kind === 'ClusterRoleBinding') await k.rbac.deleteClusterRoleBinding({ name }).catch(() => undefined);
      else if (o.kind === 'Role')
        await k.rbac.deleteNamespacedRole({ name, namespace: o.metadata?.namespace ?? '' }).catch(() => undefined);
      else
        await k.rbac
          .deleteNamespacedRoleBinding({ name, namespace: o.metadata?.namespace ?? '' })
          .catch(() => undefined);
  });
  const token = (
    await k.core.createNamespacedServiceAccountToken({
      name,
      namespace,
      body: { spec: { audiences: [], expirationSeconds: 3600 } },
    })
  ).status?.token;
  assert.ok(token);
  const admin = new KubeConfig();
  admin.loadFromFile(e.kube.kubeconfig);
  const server = admin.getCurrentCluster()!;
  const kubeconfig = join(dir, `${name}.kubeconfig`);
  writeFileSync(
    kubeconfig,
    stringify({
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [
        {
          name: 'lab',
          cluster: {
            server: server.server,
            'certificate-authority-data':
              server.caData ?? Buffer.from(readFileSync(server.caFile ?? '')).toString('base64'),
          },
        },
      ],
      users: [{ name, user: { token } }],
      contexts: [{ name, context: { cluster: 'lab', user: name } }],
      'current-context': name,
    }),
  );
  const r = await check(kubeconfig);
  assert.equal(r.code, 1, `${r.out}\n${r.err}`);
  assert.ok(failing(r.out).includes('rbac'), r.out);
  assert.match(
    results(r.out).find((c) => c.name === 'rbac')?.detail ?? '',
    /1 of \d+ permissions the run needs are not granted: patch kustomize\.toolkit\.fluxcd\.io\/kustomizations in flux-system/,
  );
});
