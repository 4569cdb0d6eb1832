#!/usr/bin/env node
// `cutover` — the product's command line. This entry parses arguments, dispatches, and decides
// the exit code for every failure, in one place.
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { CutoverError, redact } from '../core/errors.ts';

const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string; description: string };

export const HELP = `cutover ${pkg.version} — ${pkg.description}

Usage:
  cutover run    -f values.yaml [--kubeconfig K] [--namespace NS]   run the chain (resumes; skips what passed)
  cutover plan   -f values.yaml [--kubeconfig K] [--namespace NS]   show every change each step would make; writes nothing
  cutover status [-o table|json] [--kubeconfig K] [--namespace NS]  show the status ConfigMap
  cutover render -f values.yaml [-n NS]                               the dormant install as Kubernetes YAML (kubectl apply -f -)
  cutover serve  -f values.yaml [-n NS] [--listen HOST:PORT]         the API, the console and the in-process engine
  cutover tethers [-f values.yaml] [-o table|json|yaml] [--all]      every reference to an upstream host in the cluster, and where it should point
  cutover prewarm -f values.yaml [--kubeconfig K]                     copy every artifact in use into the local Harbor (step 03 alone), with progress
  cutover step   <name> -f values.yaml [-n NS]                       one step in this process (the step Job entrypoint)
  cutover agent  --config agent.json                                 the node agent (registry-pivot DaemonSet entrypoint)
  cutover probe  [--within S] URL…                                   egress probe: exit 0 when every URL is unreachable
  cutover --help | --version

Options:
  -f, --values FILE      cutover values (the seed chart's keys); validated before anything touches the cluster
  --kubeconfig FILE      cluster to act on (default: in-cluster identity, then $KUBECONFIG, ~/.kube/config)
  -n, --namespace NS     namespace of the install: status ConfigMap and Lease (default: catalyst)
  --executor local|jobs  local (default): each step in this process; jobs: discover the step
                         ConfigMaps in the namespace and run each job-mode step as a Job
  --status-configmap N   status ConfigMap name for \`status\` (default: self-sovereign-cutover-status)
  -o, --output FORMAT    table (default), json (or yaml for tethers)
  --all                  tethers: also list what is already pivoted
  --config FILE          node agent config (written by registry-pivot into its ConfigMap)
  --listen HOST:PORT     serve: where to listen (default: values api.bindAddress:api.port)
  --within SECONDS       probe: how long a policy may take to take effect before a reachable URL is a LEAK (30)

A Sovereign is handed over still tethered: Flux pulls Git from GitHub and Helm charts from
oci://ghcr.io/…, and nodes pull images through a vendor Harbor. The cutover mirrors Git into the
cluster's own Gitea, fills its own Harbor with every artifact in use, pivots containerd on every
node and every Flux source, then proves the cluster keeps working with upstream egress blocked.

Exit codes: 0 done, 1 a step or peer failed, 2 bad usage or invalid values, 3 a cutover is already in progress.

Try it on the embedded lab:  npm run demo
Run the tests:               npm test
`;

/** Exit codes, decided here only. */
export function exitCodeFor(error: unknown): number {
  if (error instanceof CutoverError && (error.code === 'usage' || error.code === 'invalid-values')) return 2;
  if (error instanceof CutoverError && error.code === 'in-progress') return 3;
  if (error instanceof TypeError && 'code' in error && String(error.code).startsWith('ERR_PARSE_ARGS')) return 2;
  return 1;
}

async function main(argv: string[]): Promise<void> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    strict: true,
    options: {
      help: { type: 'boolean', short: 'h' },
      version: { type: 'boolean', short: 'v' },
      values: { type: 'string', short: 'f' },
      kubeconfig: { type: 'string' },
      namespace: { type: 'string', short: 'n', default: 'catalyst' },
      executor: { type: 'string', default: 'local' },
      'status-configmap': { type: 'string', default: 'self-sovereign-cutover-status' },
      output: { type: 'string', short: 'o', default: 'table' },
      config: { type: 'string' },
      within: { type: 'string', default: '30' },
      listen: { type: 'string' },
      all: { type: 'boolean', default: false },
    },
  });
  if (values.version) {
    console.log(pkg.version);
    return;
  }
  const command = positionals[0];
  if (values.help || !command) {
    console.log(HELP);
    return;
  }
  const needValues = (): string => {
    if (!values.values) throw new CutoverError('usage', `cutover ${command} needs -f values.yaml`);
    return values.values;
  };
  switch (command) {
    case 'run': {
      const { runCommand } = await import('./commands/run.ts');
      return await runCommand({ values: needValues(), kubeconfig: values.kubeconfig, namespace: values.namespace, executor: values.executor });
    }
    case 'plan': {
      const { planCommand } = await import('./commands/run.ts');
      return await planCommand({ values: needValues(), kubeconfig: values.kubeconfig, namespace: values.namespace });
    }
    case 'render': {
      const { renderCommand } = await import('./commands/render.ts');
      return renderCommand({ values: needValues(), namespace: values.namespace, version: pkg.version });
    }
    case 'serve': {
      const { serveCommand } = await import('./commands/serve.ts');
      return await serveCommand({ values: needValues(), kubeconfig: values.kubeconfig, namespace: process.env.POD_NAMESPACE ?? values.namespace, listen: values.listen });
    }
    case 'tethers': {
      const { tethersCommand } = await import('./commands/tethers.ts');
      return await tethersCommand({ values: values.values, kubeconfig: values.kubeconfig, namespace: values.namespace, output: values.output, all: values.all });
    }
    case 'prewarm': {
      const { prewarmCommand } = await import('./commands/prewarm.ts');
      return await prewarmCommand({ values: needValues(), kubeconfig: values.kubeconfig, namespace: values.namespace });
    }
    case 'step': {
      const name = positionals[1];
      if (!name) throw new CutoverError('usage', 'cutover step needs a step name');
      const { stepCommand } = await import('./commands/run.ts');
      return await stepCommand(name, { values: needValues(), kubeconfig: values.kubeconfig, namespace: process.env.POD_NAMESPACE ?? values.namespace });
    }
    case 'status': {
      if (values.output !== 'table' && values.output !== 'json') throw new CutoverError('usage', `-o must be table or json, not "${values.output}"`);
      const { statusCommand } = await import('./commands/status.ts');
      return await statusCommand({ kubeconfig: values.kubeconfig, namespace: values.namespace, configMap: values['status-configmap'], output: values.output });
    }
    case 'probe': {
      const within = Number(values.within);
      if (!Number.isFinite(within) || within < 0) throw new CutoverError('usage', `--within must be a number of seconds, not "${values.within}"`);
      const { probeCommand } = await import('./commands/probe.ts');
      return await probeCommand(positionals.slice(1), within);
    }
    case 'agent': {
      if (!values.config) throw new CutoverError('usage', 'cutover agent needs --config agent.json');
      const nodeName = process.env.NODE_NAME;
      const namespace = process.env.POD_NAMESPACE;
      if (!nodeName || !namespace) throw new CutoverError('usage', 'cutover agent runs in a pod: NODE_NAME and POD_NAMESPACE must be set (downward API)');
      const { runAgent } = await import('../agent/agent.ts');
      const config = JSON.parse(readFileSync(values.config, 'utf8')) as Omit<import('../agent/agent.ts').AgentConfig, 'nodeName' | 'namespace'>;
      const stop = new AbortController();
      for (const signal of ['SIGTERM', 'SIGINT'] as const) process.once(signal, () => stop.abort());
      return await runAgent({ ...config, nodeName, namespace }, (line) => console.log(line), stop.signal);
    }
    default:
      throw new CutoverError('usage', `unknown command "${command}" (see cutover --help)`);
  }
}

try {
  await main(process.argv.slice(2));
} catch (error) {
  console.error(`cutover: ${redact(error instanceof Error ? error.message : String(error))}`);
  process.exitCode = exitCodeFor(error);
}
