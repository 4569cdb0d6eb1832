// Pod Security on the lab apiserver's own PodSecurity admission plugin: every pod the install
// renders, and every pod a step starts, is admitted where `restricted` is enforced; the node agent
// is refused there and admitted only in its `privileged` namespace. The lab kubelet then runs the
// admitted containers as they say (non-root, read-only root, no capabilities), so the chain's
// in-cluster test runs every step under it.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import type { V1PodSpec } from '@kubernetes/client-node';
import { parse as parseYaml } from 'yaml';
import { KubeCluster } from '../src/adapters/kube/cluster.ts';
import { createPod, deletePod } from '../src/adapters/kube/pods.ts';
import { AGENT, agentNamespace, API_SERVICE_ACCOUNT, RUNNER } from '../src/core/contracts.ts';
import { NON_ROOT_UID, podSecurityLabels } from '../src/core/pod-security.ts';
import { parseValues } from '../src/core/values.ts';
import { render } from '../src/render/render.ts';
import { PROJECT_IMAGE } from '../lab/corpus/spec.ts';
import { eventually, kube, testNamespace } from './support/kube.ts';
import { cleanupsAfterAll, lab } from './support/lab.ts';

const e = lab();
const k = kube();
const cleanups = cleanupsAfterAll();

const labelled = (prefix: string, level: 'restricted' | 'privileged') =>
  testNamespace(prefix, cleanups, podSecurityLabels(level));

/** Creates the pod as a dry run: the admission verdict without a pod. Returns the refusal, or ''. */
async function admission(namespace: string, name: string, spec: V1PodSpec): Promise<string> {
  try {
    await k.core.createNamespacedPod({ namespace, body: { metadata: { name }, spec }, dryRun: 'All' });
    return '';
  } catch (error) {
    const body = (error as { body?: string }).body;
    return body ? (JSON.parse(body) as { message: string }).message : String(error);
  }
}

function renderedPodSpecs(namespace: string): Array<{ name: string; spec: V1PodSpec; agent: boolean }> {
  const valuesText = readFileSync(e.valuesFile, 'utf8');
  const values = parseValues(valuesText);
  values.podSecurity.enforce = 'restricted';
  const objects = render(values, { namespace, valuesText, version: '0.1.0' }) as Array<Record<string, any>>;
  const specs: Array<{ name: string; spec: V1PodSpec; agent: boolean }> = [];
  for (const o of objects) {
    if (o.kind === 'ConfigMap' && o.data?.podSpec)
      specs.push({ name: o.metadata.name, spec: parseYaml(o.data.podSpec), agent: false });
    if (o.kind === 'Deployment' || o.kind === 'DaemonSet')
      specs.push({ name: o.metadata.name, spec: o.spec.template.spec, agent: o.kind === 'DaemonSet' });
  }
  return specs;
}

test('pod security: every rendered pod is admitted under enforce: restricted; the node agent only in its privileged namespace', async () => {
  const restricted = await labelled('psa-restricted', 'restricted');
  const privileged = await labelled('psa-privileged', 'privileged');
  for (const [namespace, name] of [
    [restricted, RUNNER],
    [restricted, API_SERVICE_ACCOUNT],
    [restricted, AGENT.serviceAccount],
    [privileged, AGENT.serviceAccount],
  ] as const)
    await k.core.createNamespacedServiceAccount({ namespace, body: { metadata: { name } } });
  const specs = renderedPodSpecs(restricted);
  assert.equal(specs.length, 10, '7 step Jobs, the API, the controller, the node agent');
  for (const { name, spec } of specs.filter((s) => !s.agent))
    assert.equal(await admission(restricted, name, spec), '', `${name} is admitted under restricted`);
  const agent = specs.find((s) => s.agent)!;
  const refusal = await admission(restricted, agent.name, agent.spec);
  assert.match(refusal, /violates PodSecurity "restricted:latest"/);
  assert.match(refusal, /use restricted volume type "hostPath"/);
  // Only what it needs is refused: it is root for the root-owned host directories and mounts them.
  assert.doesNotMatch(refusal, /capabilities|seccompProfile|allowPrivilegeEscalation/);
  assert.equal(
    await admission(privileged, agent.name, agent.spec),
    '',
    'the agent is admitted where it is meant to run',
  );

  // What the render labels: the install namespace restricted (enforce follows values), the agent's privileged.
  const values = parseValues(readFileSync(e.valuesFile, 'utf8'));
  const namespaces = render(values, { namespace: 'x', valuesText: '', version: '0' }).filter(
    (o) => o.kind === 'Namespace',
  );
  assert.deepEqual(
    namespaces.map((n) => [
      n.metadata?.name,
      n.metadata?.labels?.['pod-security.kubernetes.io/enforce'],
      n.metadata?.labels?.['pod-security.kubernetes.io/warn'],
    ]),
    [
      ['x', values.podSecurity.enforce, 'restricted'],
      [agentNamespace(values, 'x'), 'privileged', 'privileged'],
    ],
  );
});

test('pod security: a pod a step starts is admitted under restricted and runs to completion as it says (non-root, read-only root)', async () => {
  const namespace = await labelled('psa-step-pod', 'restricted');
  const cluster = KubeCluster.connect(e.kube.kubeconfig);
  const name = 'step-pod';
  // A bare spec, as the steps write theirs: createPod makes it restricted.
  await createPod(cluster, namespace, {
    name,
    labels: {},
    spec: {
      restartPolicy: 'Never',
      containers: [
        {
          name: 'c',
          image: `${e.upstreams.ghcr.host}/${PROJECT_IMAGE.repo}:${PROJECT_IMAGE.tag}`,
          args: ['--version'],
        },
      ],
    },
  });
  cleanups.push(() => deletePod(cluster, namespace, name));
  const pod = await eventually(
    'the pod to finish',
    async () => {
      const p = await k.core.readNamespacedPod({ name, namespace });
      return p.status?.phase === 'Succeeded' || p.status?.phase === 'Failed' ? p : undefined;
    },
    60_000,
  );
  assert.equal(pod.status?.phase, 'Succeeded', JSON.stringify(pod.status?.containerStatuses));
  assert.equal(pod.spec?.securityContext?.runAsUser, NON_ROOT_UID);
  assert.equal(pod.spec?.containers[0]?.securityContext?.readOnlyRootFilesystem, true);
});

test('pod security: the lab kubelet refuses runAsNonRoot with a root user, as a kubelet does', async () => {
  const namespace = await testNamespace('psa-root', cleanups);
  const name = 'root-pod';
  await k.core.createNamespacedPod({
    namespace,
    body: {
      metadata: { name },
      spec: {
        restartPolicy: 'Never',
        securityContext: { runAsNonRoot: true },
        containers: [
          {
            name: 'c',
            image: `${e.upstreams.ghcr.host}/${PROJECT_IMAGE.repo}:${PROJECT_IMAGE.tag}`,
            args: ['--version'],
          },
        ],
      },
    },
  });
  const waiting = await eventually(
    'the container to be refused',
    async () => {
      const w = (await k.core.readNamespacedPod({ name, namespace })).status?.containerStatuses?.[0]?.state?.waiting;
      return w?.reason === 'CreateContainerConfigError' ? w : undefined;
    },
    60_000,
  );
  assert.match(waiting.message ?? '', /runAsNonRoot and image will run as root/);
});
