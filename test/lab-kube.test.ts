// The lab's Kubernetes world against real peers: kube-apiserver + controller-manager, Flux
// source-controller, Gitea, and the lab kubelet pulling through each node's containerd.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { describe, test } from 'node:test';
import type { V1Pod } from '@kubernetes/client-node';
import { parse as parseYaml } from 'yaml';
import { DistributionClient } from '../src/adapters/oci/distribution-client.ts';
import { CHARTS, PROJECT_IMAGE } from '../lab/corpus/spec.ts';
import { fluxCrdFiles } from '../lab/kube/flux.ts';
import { labNodes } from '../lab/lab.ts';
import { FLUX_CRDS_DIR } from '../lab/topology.ts';
import { ctr } from '../lab/nodes/containerd.ts';
import { eventually, kube, testNamespace } from './support/kube.ts';
import { cleanupsAfterAll, lab, pushFreshImage, uniqueName } from './support/lab.ts';

const e = lab();
const k = kube();
const cleanups = cleanupsAfterAll();

type Condition = { type: string; status: string; reason?: string; message?: string };
const ready = (obj: { status?: { conditions?: Condition[] } }): boolean =>
  obj.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;

function upstreamHead(branch: string): string {
  const line = execFileSync('git', ['ls-remote', e.git.repoURL, `refs/heads/${branch}`], { encoding: 'utf8' });
  return line.split('\t')[0] ?? '';
}

describe('Flux source-controller', () => {
  test('GitRepository flux-system/openova is Ready on the upstream head commit', async () => {
    const head = upstreamHead(e.git.branch);
    const repo = await eventually(
      'GitRepository openova Ready',
      async () => {
        const obj = (await k.custom.getNamespacedCustomObject({
          group: 'source.toolkit.fluxcd.io',
          version: 'v1',
          namespace: 'flux-system',
          plural: 'gitrepositories',
          name: 'openova',
        })) as { status?: { conditions?: Condition[]; artifact?: { revision: string } } };
        return ready(obj) ? obj : undefined;
      },
      120_000,
    );
    assert.equal(repo.status?.artifact?.revision, `${e.git.branch}@sha1:${head}`);
  });

  test("a HelmRelease's HelmChart from an OCI HelmRepository becomes Ready (the chart was really pulled)", async () => {
    const chart = CHARTS[0]!;
    // helm-controller names the HelmChart it creates for a HelmRelease `<namespace>-<release>`.
    const name = `flux-system-${chart.name}`;
    const obj = await eventually(
      `HelmChart ${name} Ready`,
      async () => {
        const o = (await k.custom.getNamespacedCustomObject({
          group: 'source.toolkit.fluxcd.io',
          version: 'v1',
          namespace: 'flux-system',
          plural: 'helmcharts',
          name,
        })) as { status?: { conditions?: Condition[]; artifact?: { revision: string; url: string } } };
        return ready(o) ? o : undefined;
      },
      120_000,
    );
    assert.equal(obj.status?.artifact?.revision, chart.version);
    // The packaged chart is served by source-controller's artifact storage.
    const res = await fetch(obj.status?.artifact?.url ?? '');
    assert.equal(res.status, 200);
    assert.ok((await res.arrayBuffer()).byteLength > 100);
  });
});

describe('lab kubelet', () => {
  test("a Deployment's pods become Ready on lab nodes with images pulled through the node's containerd", async () => {
    const namespace = await testNamespace('deploy', cleanups);
    const repo = `openova-io/${uniqueName('app')}`;
    await pushFreshImage(new DistributionClient(e.upstreams.ghcr.url), repo, 'v1');
    const image = `${e.upstreams.ghcr.host}/${repo}:v1`;
    await k.apps.createNamespacedDeployment({
      namespace,
      body: {
        metadata: { name: 'web' },
        spec: {
          replicas: 2,
          selector: { matchLabels: { app: 'web' } },
          template: { metadata: { labels: { app: 'web' } }, spec: { containers: [{ name: 'web', image }] } },
        },
      },
    });
    await eventually(
      '2 ready replicas',
      async () =>
        ((await k.apps.readNamespacedDeployment({ name: 'web', namespace })).status?.readyReplicas ?? 0) === 2,
      60_000,
    );
    const pods = (await k.core.listNamespacedPod({ namespace })).items;
    assert.equal(pods.length, 2);
    for (const pod of pods) {
      const node = labNodes().find((n) => n.name === pod.spec?.nodeName);
      assert.ok(node, `pod on a lab node (${pod.spec?.nodeName})`);
      assert.match(pod.status?.containerStatuses?.[0]?.imageID ?? '', /@sha256:[0-9a-f]{64}$/);
      const images = await ctr(node, ['images', 'ls', '-q']);
      assert.ok(images.stdout.split('\n').includes(image), `${image} is in ${node.name}'s containerd`);
    }
    // The pod's identity, as its containers see it at /var/run/secrets/kubernetes.io/serviceaccount:
    // the projected volume the kubelet materialised holds a bound token, the cluster CA and the namespace.
    const pod = pods[0]!;
    const volume = pod.spec?.volumes?.find((v) => v.projected)?.name ?? '';
    const dir = join(
      lab().kube.kubeconfig,
      '..',
      'kubelet',
      'pods',
      `${namespace}_${pod.metadata?.name}_${pod.metadata?.uid}`,
      'volumes',
      volume,
    );
    assert.equal(readFileSync(join(dir, 'namespace'), 'utf8'), namespace);
    assert.match(readFileSync(join(dir, 'ca.crt'), 'utf8'), /BEGIN CERTIFICATE/);
    const review = await k.authn.createTokenReview({
      body: { spec: { token: readFileSync(join(dir, 'token'), 'utf8') } },
    });
    assert.equal(review.status?.user?.username, `system:serviceaccount:${namespace}:default`);
    assert.equal(
      review.status?.user?.extra?.['authentication.kubernetes.io/pod-name']?.[0],
      pod.metadata?.name,
      'token bound to the pod',
    );
  });

  test("a Job running the project's image runs the CLI and completes; a failing one marks the Job Failed", async () => {
    const namespace = await testNamespace('jobs', cleanups);
    const image = `${e.upstreams.ghcr.host}/${PROJECT_IMAGE.repo}:${PROJECT_IMAGE.tag}`;
    const job = (name: string, args: string[]) =>
      k.batch.createNamespacedJob({
        namespace,
        body: {
          metadata: { name },
          spec: {
            backoffLimit: 0,
            template: {
              spec: {
                restartPolicy: 'Never',
                containers: [{ name: 'cutover', image, args, ...(name === 'fails' ? fallback : {}) }],
              },
            },
          },
        },
      });
    const fallback = { terminationMessagePolicy: 'FallbackToLogsOnError' };
    await job('ok', ['--version']);
    await job('fails', ['frobnicate']);
    await job('fails-quietly', ['frobnicate']);
    const condition = (name: string) => async () =>
      (await k.batch.readNamespacedJob({ name, namespace })).status?.conditions?.find(
        (c) => c.status === 'True' && (c.type === 'Complete' || c.type === 'Failed'),
      )?.type;
    assert.equal(await eventually('Job ok finished', condition('ok'), 60_000), 'Complete');
    assert.equal(await eventually('Job fails finished', condition('fails'), 60_000), 'Failed');
    const failed = (await k.core.listNamespacedPod({ namespace, labelSelector: 'job-name=fails' })).items[0] as V1Pod;
    const terminated = failed.status?.containerStatuses?.[0]?.state?.terminated;
    assert.equal(terminated?.exitCode, 2, "the CLI's usage exit code reaches the pod status");
    assert.match(terminated?.message ?? '', /unknown command 'frobnicate'/, 'FallbackToLogsOnError: the log tail');
    // The default policy reads /dev/termination-log, which the CLI does not write: no message, as on a real kubelet.
    assert.equal(await eventually('Job fails-quietly finished', condition('fails-quietly'), 60_000), 'Failed');
    const quiet = (await k.core.listNamespacedPod({ namespace, labelSelector: 'job-name=fails-quietly' })).items[0];
    assert.equal(quiet?.status?.containerStatuses?.[0]?.state?.terminated?.message, undefined);
  });
});

describe('identity', () => {
  test('a ServiceAccount token passes TokenReview; a request beyond its RBAC gets 403', async () => {
    const namespace = await testNamespace('sa', cleanups);
    await k.core.createNamespacedServiceAccount({ namespace, body: { metadata: { name: 'runner' } } });
    await k.rbac.createNamespacedRole({
      namespace,
      body: {
        metadata: { name: 'read-cm' },
        rules: [{ apiGroups: [''], resources: ['configmaps'], verbs: ['get', 'list'] }],
      },
    });
    await k.rbac.createNamespacedRoleBinding({
      namespace,
      body: {
        metadata: { name: 'read-cm' },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'read-cm' },
        subjects: [{ kind: 'ServiceAccount', name: 'runner', namespace }],
      },
    });
    const token =
      (
        await k.core.createNamespacedServiceAccountToken({
          name: 'runner',
          namespace,
          body: { spec: { audiences: [], expirationSeconds: 600 } },
        })
      ).status?.token ?? '';
    const review = await k.authn.createTokenReview({ body: { spec: { token } } });
    assert.equal(review.status?.authenticated, true);
    assert.equal(review.status?.user?.username, `system:serviceaccount:${namespace}:runner`);
    const ca = readFileSync(new URL(`file://${e.kube.kubeconfig}`), 'utf8');
    const caData = Buffer.from(
      (parseYaml(ca) as { clusters: Array<{ cluster: { 'certificate-authority-data': string } }> }).clusters[0]!
        .cluster['certificate-authority-data'],
      'base64',
    );
    const asRunner = async (path: string): Promise<number> => {
      const { request } = await import('node:https');
      return await new Promise((resolve, reject) => {
        const req = request(
          `${e.kube.apiserver}${path}`,
          { ca: caData, headers: { authorization: `Bearer ${token}` } },
          (res) => {
            res.resume();
            resolve(res.statusCode ?? 0);
          },
        );
        req.on('error', reject);
        req.end();
      });
    };
    assert.equal(await asRunner(`/api/v1/namespaces/${namespace}/configmaps`), 200);
    assert.equal(await asRunner('/api/v1/namespaces/kube-system/secrets'), 403);
  });
});

describe('Gitea', () => {
  test('POST /repos/migrate with mirror:true from the upstream Git gives a mirror with the upstream head', async () => {
    const name = uniqueName('mirror');
    const headers = { authorization: `token ${e.gitea.token}`, 'content-type': 'application/json' };
    cleanups.push(() =>
      fetch(`${e.gitea.url}/api/v1/repos/${e.gitea.username}/${name}`, { method: 'DELETE', headers }),
    );
    const res = await fetch(`${e.gitea.url}/api/v1/repos/migrate`, {
      method: 'POST',
      headers,
      body: JSON.stringify({
        clone_addr: e.git.repoURL,
        repo_owner: e.gitea.username,
        repo_name: name,
        mirror: true,
        mirror_interval: '10m0s',
        service: 'git',
      }),
    });
    assert.equal(res.status, 201, await res.clone().text());
    const repo = (await (
      await fetch(`${e.gitea.url}/api/v1/repos/${e.gitea.username}/${name}`, { headers })
    ).json()) as { mirror: boolean; empty: boolean; mirror_interval: string };
    assert.equal(repo.mirror, true);
    assert.equal(repo.empty, false);
    assert.equal(repo.mirror_interval, '10m0s');
    const branch = (await (
      await fetch(`${e.gitea.url}/api/v1/repos/${e.gitea.username}/${name}/branches/${e.git.branch}`, { headers })
    ).json()) as { commit: { id: string } };
    assert.equal(branch.commit.id, upstreamHead(e.git.branch));
  });
});

describe('the seeded tethered Sovereign', () => {
  test('namespaces, Flux sources on upstream, catalyst-api env, pull and admin secrets, and values.yaml', async () => {
    for (const ns of ['flux-system', 'catalyst', 'catalyst-system', 'gitea', 'harbor'])
      await k.core.readNamespace({ name: ns });
    const repos = (await k.custom.listNamespacedCustomObject({
      group: 'source.toolkit.fluxcd.io',
      version: 'v1',
      namespace: 'flux-system',
      plural: 'helmrepositories',
    })) as { items: Array<{ spec: { url: string; type: string } }> };
    assert.ok(repos.items.length >= 6);
    for (const r of repos.items) assert.equal(r.spec.url, `oci://${e.upstreams.ghcr.host}/openova-io`);
    const api = await k.apps.readNamespacedDeployment({ name: 'catalyst-api', namespace: 'catalyst-system' });
    assert.equal(
      api.spec?.template.spec?.containers[0]?.env?.find((v) => v.name === 'CATALYST_GITOPS_REPO_URL')?.value,
      e.git.repoURL,
    );
    const pull = await k.core.readNamespacedSecret({ name: 'ghcr-pull', namespace: 'flux-system' });
    assert.equal(pull.type, 'kubernetes.io/dockerconfigjson');
    const auths = JSON.parse(Buffer.from(pull.data?.['.dockerconfigjson'] ?? '', 'base64').toString()) as {
      auths: Record<string, unknown>;
    };
    assert.ok(auths.auths[e.upstreams.ghcr.host]);
    const values = parseYaml(readFileSync(e.valuesFile, 'utf8')) as Record<string, any>;
    const gitea = await k.core.readNamespacedSecret({
      name: values.gitea.adminSecretRef.name,
      namespace: values.gitea.adminSecretRef.namespace,
    });
    assert.ok(gitea.data?.[values.gitea.adminSecretRef.passwordKey]);
    const harbor = await k.core.readNamespacedSecret({
      name: values.harbor.adminSecretRef.name,
      namespace: values.harbor.adminSecretRef.namespace,
    });
    assert.ok(harbor.data?.[values.harbor.adminSecretRef.passwordKey]);
    assert.equal(values.upstream.repoURL, e.git.repoURL);
    assert.deepEqual(
      values.helmRepositories.names,
      CHARTS.map((c) => c.name),
    );
  });

  test('workloads of every kind run on upstream images through the mothership', async () => {
    const kinds = {
      Deployment: (await k.apps.listDeploymentForAllNamespaces()).items.length,
      StatefulSet: (await k.apps.listStatefulSetForAllNamespaces()).items.length,
      DaemonSet: (await k.apps.listDaemonSetForAllNamespaces()).items.length,
      CronJob: (await k.batch.listCronJobForAllNamespaces()).items.length,
      Job: (await k.batch.listJobForAllNamespaces()).items.length,
    };
    for (const [kind, count] of Object.entries(kinds)) assert.ok(count > 0, `a ${kind} exists`);
    await eventually(
      'catalyst-api, catalyst-ui (init container), postgres and both cilium-agent pods Running',
      async () => {
        const pods = (await k.core.listPodForAllNamespaces()).items.filter(
          (p) =>
            ['catalyst-api', 'catalyst-ui', 'postgres', 'cilium-agent'].includes(p.metadata?.labels?.app ?? '') &&
            !p.metadata?.deletionTimestamp,
        );
        return pods.length >= 5 && pods.every((p) => p.status?.phase === 'Running');
      },
      90_000,
    );
    const ui = (await k.core.listNamespacedPod({ namespace: 'catalyst-system', labelSelector: 'app=catalyst-ui' }))
      .items[0];
    assert.equal(ui?.status?.initContainerStatuses?.[0]?.state?.terminated?.exitCode, 0);
  });
});

describe('Flux CRDs', () => {
  test('the CRDs installed from the source-controller module match the vendored specs/flux (descriptions aside)', async () => {
    const strip = (node: unknown): unknown =>
      Array.isArray(node)
        ? node.map(strip)
        : node && typeof node === 'object'
          ? Object.fromEntries(
              Object.entries(node)
                .filter(([key]) => key !== 'description')
                .map(([key, v]) => [key, strip(v)]),
            )
          : node;
    const compared = fluxCrdFiles().filter((file) => existsSync(join(FLUX_CRDS_DIR, basename(file))));
    assert.equal(compared.length, 4, 'GitRepository, HelmRepository, HelmChart, OCIRepository');
    for (const file of compared) {
      const ours = parseYaml(readFileSync(file, 'utf8')) as { spec: unknown };
      const spec = parseYaml(readFileSync(join(FLUX_CRDS_DIR, basename(file)), 'utf8')) as { spec: unknown };
      assert.deepEqual(strip(ours.spec), strip(spec.spec), basename(file));
      const served = (ours.spec as { versions: Array<{ name: string; served: boolean }> }).versions
        .filter((v) => v.served)
        .map((v) => v.name);
      assert.ok(served.includes('v1'), `${basename(file)} serves v1`);
    }
  });
});
