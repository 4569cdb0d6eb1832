// `npm run bench -- inventory [--workloads 10000]`: the tether inventory over many workloads in
// the lab apiserver (the lab must be up), against a plain list of the same objects, at 1k, 5k and
// 10k Deployments (each with its ReplicaSet, both at zero replicas; a few images, some env URLs).
import { setTimeout as sleep } from 'node:timers/promises';
import { KubeCluster } from '../src/adapters/kube/cluster.ts';
import { takeInventory } from '../src/composition.ts';
import { parseValues } from '../src/core/values.ts';
import { readEndpoints } from '../lab/topology.ts';
import { readFileSync } from 'node:fs';

const NS = 'bench-inventory';

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] as number;
}

async function timed(work: () => Promise<unknown>): Promise<number> {
  const started = performance.now();
  await work();
  return (performance.now() - started) / 1000;
}

export async function benchInventory(args: string[]): Promise<void> {
  const max = Number(args[args.indexOf('--workloads') + 1]) || 10_000;
  const e = readEndpoints();
  const cluster = KubeCluster.connect(e.kube.kubeconfig);
  const values = parseValues(readFileSync(e.valuesFile, 'utf8'));
  const images = [
    'openova-io/catalyst-api:1.0.0',
    'openova-io/catalyst-ui:1.0.0',
    'fluxcd/source-controller:v1.4.1',
    'fluxcd/helm-controller:v1.1.0',
    'openova-io/node-agent:0.3.0',
  ].map((i) => `${e.upstreams.ghcr.host}/${i}`);
  await cluster.core.createNamespace({ body: { metadata: { name: NS } } }).catch(() => undefined);
  const existing = async () =>
    (await cluster.apps.listNamespacedDeployment({ namespace: NS, limit: 1 })).metadata?.remainingItemCount ?? 0;
  const lines: string[] = [];
  try {
    for (const size of [1000, 5000, 10_000].filter((n) => n <= max)) {
      // Grow to `size` Deployments, 32 requests at a time.
      let have = (await existing()) + 1;
      const started = performance.now();
      const queue = Array.from({ length: Math.max(0, size - have) }, (_, i) => have + i);
      await Promise.all(
        Array.from({ length: 32 }, async () => {
          for (let i = queue.shift(); i !== undefined; i = queue.shift()) {
            const image = images[i % images.length] as string;
            await cluster.apps
              .createNamespacedDeployment({
                namespace: NS,
                body: {
                  metadata: { name: `w-${i}` },
                  spec: {
                    replicas: 0,
                    selector: { matchLabels: { w: String(i) } },
                    template: {
                      metadata: { labels: { w: String(i) } },
                      spec: {
                        containers: [{ name: 'c', image, env: i % 10 ? [] : [{ name: 'REPO', value: e.git.repoURL }] }],
                      },
                    },
                  },
                },
              })
              .catch((error: unknown) => {
                if ((error as { code?: number }).code !== 409) throw error;
              });
          }
        }),
      );
      have = (await existing()) + 1;
      console.log(
        `  ${have} Deployments in ${NS} (${((performance.now() - started) / 1000).toFixed(1)} s to create); letting ReplicaSets catch up`,
      );
      await sleep(5000);
      const plain: number[] = [];
      const inventory: number[] = [];
      let rows = 0;
      for (let round = 0; round < 3; round++) {
        plain.push(
          await timed(() =>
            Promise.all([
              cluster.core.listPodForAllNamespaces(),
              cluster.apps.listDeploymentForAllNamespaces(),
              cluster.apps.listStatefulSetForAllNamespaces(),
              cluster.apps.listDaemonSetForAllNamespaces(),
              cluster.apps.listReplicaSetForAllNamespaces(),
              cluster.batch.listJobForAllNamespaces(),
              cluster.batch.listCronJobForAllNamespaces(),
              cluster.core.listConfigMapForAllNamespaces(),
              cluster.core.listSecretForAllNamespaces({ fieldSelector: 'type=kubernetes.io/dockerconfigjson' }),
              ...['gitrepositories', 'helmrepositories', 'ocirepositories', 'buckets', 'helmcharts'].map((plural) =>
                cluster.custom.listClusterCustomObject({ group: 'source.toolkit.fluxcd.io', version: 'v1', plural }),
              ),
            ]),
          ),
        );
        inventory.push(
          await timed(async () => (rows = (await takeInventory(cluster, values, 'catalyst', true)).tethers.length)),
        );
      }
      const line = `inventory ${have} workloads: ${median(inventory).toFixed(2)} s (${rows} rows) vs plain list ${median(plain).toFixed(2)} s → ${(median(inventory) / median(plain)).toFixed(2)}×`;
      console.log(`  ${line}`);
      lines.push(line);
    }
  } finally {
    if (!args.includes('--keep')) await cluster.core.deleteNamespace({ name: NS }).catch(() => undefined);
  }
  console.log(`\n${lines.join('\n')}`);
}
