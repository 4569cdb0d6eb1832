// `npm run bench -- agents [--nodes 500] [--seconds 60]`: what N node agents cost the apiserver (the
// lab must be up). N agents run in this process against the lab's real kube-apiserver, each with a
// node's files in a temporary directory, in two designs measured in the same run: `poll` (a read of
// the status ConfigMap every 2 s, as the agent did before) and `watch` (the product's `runAgent`: one
// watch each, a resync every 45–75 s). Requests per second come from the apiserver's own
// `apiserver_request_total`, less what the lab does without agents; midway the status flips to v2
// and the bench times how long until every agent has acked it.
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { converge, runAgent } from '../src/agent/agent.ts';
import { KubeCluster } from '../src/adapters/kube/cluster.ts';
import { StatusStore } from '../src/adapters/kube/status-store.ts';
import { NodeReports } from '../src/adapters/kube/node-reports.ts';
import { nodeAckKey, type AgentConfig } from '../src/core/contracts.ts';
import { parseValues } from '../src/core/values.ts';
import { readEndpoints } from '../lab/topology.ts';

// A namespace of its own per run (the last run's may still be terminating).
const NS = `bench-agents-${Date.now().toString(36)}`;
const STATUS = 'bench-agents-status';

/** Every request the apiserver has counted so far (all verbs, codes and resources). */
async function apiserverRequests(cluster: KubeCluster): Promise<number> {
  const options: Parameters<typeof request>[1] & { headers: Record<string, string> } = { headers: {} };
  await cluster.config.applyToHTTPSOptions(options);
  const text = await new Promise<string>((resolve, reject) => {
    const req = request(new URL('/metrics', cluster.server), options, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolve(body));
    });
    req.on('error', reject);
    req.end();
  });
  return text
    .split('\n')
    .filter((l) => l.startsWith('apiserver_request_total{'))
    .reduce((sum, l) => sum + Number(l.slice(l.lastIndexOf(' ') + 1)), 0);
}

/** The agent as it was before (kept here only to measure against): a read every 2 s, a patch on change. */
async function pollingAgent(config: AgentConfig, store: StatusStore, signal: AbortSignal): Promise<void> {
  while (!signal.aborted) {
    const status = await store.read().catch(() => undefined);
    const desired = (status?.registriesYamlActive || 'v1') as 'v1' | 'v2';
    converge(config, desired);
    if (status && status[nodeAckKey(config.nodeName)] !== desired)
      await store.patch({ [nodeAckKey(config.nodeName)]: desired }).catch(() => undefined);
    await sleep(2000, undefined, { signal }).catch(() => undefined);
  }
}

async function rate(cluster: KubeCluster, seconds: number): Promise<number> {
  const before = await apiserverRequests(cluster);
  await sleep(seconds * 1000);
  return ((await apiserverRequests(cluster)) - before) / seconds;
}

export async function benchAgents(args: string[]): Promise<void> {
  const nodes = Number(args[args.indexOf('--nodes') + 1]) || 500;
  const seconds = Number(args[args.indexOf('--seconds') + 1]) || 60;
  const e = readEndpoints();
  const admin = KubeCluster.connect(e.kube.kubeconfig);
  const values = parseValues(readFileSync(e.valuesFile, 'utf8'));
  await admin.core.createNamespace({ body: { metadata: { name: NS } } }).catch(() => undefined);
  const root = mkdtempSync(join(tmpdir(), 'bench-agents-'));
  const lines: string[] = [];
  try {
    const baseline = await rate(admin, 20);
    lines.push(`lab without agents: ${baseline.toFixed(1)} requests/s`);
    for (const design of ['watch', 'poll'] as const) {
      const store = new StatusStore(admin, NS, STATUS);
      await admin.core.deleteNamespacedConfigMap({ name: STATUS, namespace: NS }).catch(() => undefined);
      await store.ensure();
      const stop = new AbortController();
      const running = Array.from({ length: nodes }, (_, i) => {
        const dir = join(root, design, `node-${i}`);
        mkdirSync(join(dir, 'certs.d'), { recursive: true });
        const config: AgentConfig = {
          nodeName: `bench-node-${i}`,
          namespace: NS,
          reportNamespace: NS,
          statusConfigMap: STATUS,
          certsDir: join(dir, 'certs.d'),
          k3sConfigDir: join(dir, 'k3s'),
          harborURL: values.sovereign.harborPublicURL,
          hostProjects: values.harbor.hostProjects,
          harborTls: { caBundle: '', insecureSkipVerify: false },
        };
        // One client per agent, as every node has its own connection to the apiserver.
        const client = KubeCluster.connect(e.kube.kubeconfig);
        const own = new StatusStore(client, NS, STATUS);
        return design === 'poll'
          ? pollingAgent(config, own, stop.signal)
          : runAgent(
              () => config,
              own,
              new NodeReports(client, NS),
              () => undefined,
              stop.signal,
            );
      });
      // The old design acked in the status; the product's agents in their own reports.
      const reports = new NodeReports(admin, NS);
      const acked = async (want: string) => {
        if (design === 'watch') return (await reports.list()).filter((r) => r.registriesYaml === want).length;
        const data = (await store.read()) ?? {};
        return Array.from({ length: nodes }, (_, i) => data[nodeAckKey(`bench-node-${i}`)]).filter((v) => v === want)
          .length;
      };
      /** Seconds until every agent acked `want`, or how many had after the 120 s cap. */
      const until = async (want: string, every: number): Promise<string> => {
        const from = performance.now();
        let count = await acked(want);
        while (count < nodes && performance.now() - from < 120_000) {
          await sleep(every);
          count = await acked(want);
        }
        return count < nodes
          ? `only ${count}/${nodes} within 120 s`
          : `in ${((performance.now() - from) / 1000).toFixed(1)} s`;
      };
      const settled = await until('v1', 500);
      const steady = (await rate(admin, seconds)) - baseline;
      // The flip is an operator's write: under a saturated apiserver it may need several tries.
      for (let attempt = 1; ; attempt++) {
        const ok = await store.patch({ registriesYamlActive: 'v2' }).then(
          () => true,
          () => false,
        );
        if (ok) break;
        if (attempt === 5) throw new Error(`${design}: the flip could not be written in 5 tries`);
      }
      const flip = await until('v2', 200);
      stop.abort();
      await Promise.allSettled(running);
      lines.push(
        `${design}: ${nodes} agents · ${steady.toFixed(1)} requests/s at the apiserver in steady state (${seconds} s) · acked v1 ${settled} · acked a flip to v2 ${flip}`,
      );
      console.log(lines.at(-1));
    }
  } finally {
    rmSync(root, { recursive: true, force: true });
    await admin.core.deleteNamespace({ name: NS }).catch(() => undefined);
  }
  console.log(`\n${lines.join('\n')}`);
}
