#!/usr/bin/env node
// `cutover` — the product's command line. This entry parses arguments, dispatches, and decides
// the exit code for every failure, in one place.
import type { ServeRole } from './commands/serve.ts';
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { CutoverError, redact } from '../core/errors.ts';
import type { AgentConfig } from '../core/contracts.ts';

const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
  version: string;
  description: string;
};

export const HELP = `cutover ${pkg.version} — ${pkg.description}

Usage:
  cutover run    -f values.yaml [--kubeconfig K] [--namespace NS]   run the chain (resumes; re-verifies what passed)
  cutover plan   -f values.yaml [--kubeconfig K] [--namespace NS]   show every change each step would make; writes nothing
  cutover status [-o table|json] [--kubeconfig K] [--namespace NS]  show the status ConfigMap
  cutover render -f values.yaml [-n NS]                               the dormant install as Kubernetes YAML (kubectl apply -f -)
  cutover serve  -f values.yaml [-n NS] [--role R] [--listen H:P]    the API and console, the controller that runs the engine, or both
  cutover tethers [-f values.yaml] [-o table|json|yaml] [--all]      every reference to an upstream host in the cluster, and where it should point
  cutover prewarm -f values.yaml [--kubeconfig K]                     copy every artifact in use into the local Harbor (step 03 alone), with progress
  cutover intake approve [--revision SHA] [-f values.yaml] [-n NS]   intake.mode request: let the pending revision in (see cutover intake --help)
  cutover check  [-o table|json] [-f values.yaml] [-n NS]            is this cluster ready? RBAC, Harbor, Gitea, Flux APIs, Pod Security, a rehearsal of the hold (see --help)
  cutover journal [-o table|json] [-f values.yaml] [-n NS]           every change the cutover made: object, field, before, after, step
  cutover rollback [--yes] [-f values.yaml] [-n NS]                  undo the cutover from the journal: the tethered state back (see --help)
  cutover abort  [--yes] [-f values.yaml] [-n NS]                     stop the running cutover (here or in the cluster) at a safe point
  cutover step   <name> -f values.yaml [-n NS]                       one step in this process (the step Job entrypoint)
  cutover agent  --config agent.json                                 the node agent (registry-pivot DaemonSet entrypoint)
  cutover probe  [--within S] [--expect blocked|reachable] URL…      egress probe: exit 0 when every URL is unreachable (blocked)
  cutover --help | --version        cutover <command> --help (tethers, prewarm): that command in detail

Options:
  -f, --values FILE      cutover values (the seed chart's keys); validated before anything touches the cluster
  --kubeconfig FILE      cluster to act on (default: in-cluster identity, then $KUBECONFIG, ~/.kube/config)
  --context NAME         the kubeconfig context to use (default: its current context), as kubectl's
  -y, --yes              run, rollback, abort: do not ask for confirmation on a terminal (commands that change
                         a cluster first print its API server, context and install namespace)
  -n, --namespace NS     namespace of the install: status ConfigMap and Lease (default: catalyst)
  --executor local|jobs  local (default): each step in this process; jobs: discover the step
                         ConfigMaps in the namespace and run each job-mode step as a Job
  --status-configmap N   status ConfigMap name for \`status\` (default: self-sovereign-cutover-status)
  -o, --output FORMAT    table (default), json (or yaml for tethers)
  --all                  tethers: also list what is already pivoted
  --revision SHA         intake approve: the commit the status shows pending (refused if the head moved on)
  --config FILE          node agent config (written by registry-pivot into its ConfigMap)
  --listen HOST:PORT     serve: where to listen (default: values api.bindAddress:api.port)
  --role all|api|controller  serve: api (the console and API; writes requests, runs nothing), controller
                         (takes them: the engine, guard, intake, rollback, inventory; no port), or all (default:
                         both in one process). The install runs each as a Deployment of its own identity
  --within SECONDS       probe: how long a policy may take to take effect before a reachable URL is a LEAK (30)
  --expect WHAT          probe: blocked (default) or reachable: exit 0 when at least one URL answers — step 08's
                         check before the hold that the proof can show the hold blocking something

A Sovereign is handed over still tethered: Flux pulls Git from GitHub and Helm charts from
oci://ghcr.io/…, and nodes pull images through a vendor Harbor. The cutover mirrors Git into the
cluster's own Gitea, fills its own Harbor with every artifact in use, pivots containerd on every
node and every Flux source, then proves the cluster keeps working with upstream egress blocked.

Exit codes: 0 done, 1 a step or peer failed, 2 bad usage or invalid values, 3 a cutover is already in progress.

Try it on the embedded lab:  npm run demo
Run the tests:               npm test
`;

/** `cutover <command> --help`: what a command does, its options and what its output means. */
export const COMMAND_HELP: Record<string, string> = {
  tethers: `cutover tethers [-f values.yaml] [-o table|json|yaml] [--all] [--kubeconfig K] [-n NS]

Every reference to an upstream host in the live cluster: images of Pods and every workload
template (scaled to zero and suspended ones too; init, ephemeral containers, image volumes), Flux
Git/Helm/OCI/Bucket sources, HelmCharts and HelmReleases, Crossplane Provider packages,
dockerconfigjson pull Secrets, env vars and ConfigMap values naming an upstream URL, and each
node's registry routes as its node agent reports them. Images are normalised
(nginx → docker.io/library/nginx:latest) and tags resolved to digests.

Each row: STATE, KIND, OBJECT, FIELD (path in the object), UPSTREAM, LOCAL (where
harbor.hostProjects sends it). States:
  tethered   still points upstream; the cutover will pivot it
  unmapped   points at a host harbor.hostProjects does not map: nothing would serve it after the
             pivot (add a row for the host, or exempt it)
  pivoted    already local (listed with --all only)
  exempt     kept on purpose, with the reason — a Deployment's rollout history, or a rule in values:
               tethers:
                 exempt:
                   - kind: pull-secret          # optional; one of the KIND values
                     object: "Secret flux-system/*"   # optional; * is a wildcard
                     upstream: "ghcr.io*"       # optional
                     reason: upstream credentials stay until the operator retires them
Before the cutover the table shows what is tethered; after it, only exempt rows remain.

Options:
  -f, --values FILE   cutover values (default: the install's values ConfigMap in -n)
  -o, --output FMT    table (default), json or yaml (with a summary of the counts)
  --all               also list pivoted rows
  -n, --namespace NS  the install's namespace (status ConfigMap with the node reports; default catalyst)
Credentials never appear: pull Secrets show their host only, URLs show user:password as ***.
Exit codes: 0 listed; 1 a source could not be read (the list is printed but incomplete) or the
cluster failed; 2 bad usage or invalid values.
`,
  prewarm: `cutover prewarm -f values.yaml [--kubeconfig K] [-n NS]

Step 03 on its own: every artifact the cluster uses from an upstream host (images with every
platform of an index, OCI Helm charts, Crossplane provider packages, values prewarm.images and the
cutover's own image) copied into the local Harbor project its host maps to, digests preserved;
proxy-mode hosts are pulled through their proxy-cache project. Exempt tethers are not copied.
Blobs stream (memory does not grow with their size), shared blobs are mounted, what is present
is skipped, transient failures are retried with backoff; a killed run is resumed by the next.
At the end every artifact is checked by digest: any miss fails, while egress is still open.

A progress bar is drawn on a terminal; otherwise one line per event. Runs until done or until
stepTimeouts.harborPrewarmSeconds.

Options:
  -f, --values FILE   cutover values (required)
  --kubeconfig FILE   the cluster whose workloads are inventoried
  -n, --namespace NS  the install's namespace (default catalyst)
Exit codes: 0 every artifact verified; 1 an artifact failed, a reference points at a host the
table does not map, or the inventory could not read a source; 2 bad usage or invalid values.
`,
  intake: `cutover intake approve [--revision SHA] [-f values.yaml] [--kubeconfig K] [-n NS]

After the cutover, \`cutover serve\` reads every new revision of the Git mirror and lists what it
pins (images, chart versions, OCI artifacts). With intake.mode: request nothing is copied from
upstream and Flux stays on the last approved revision until an operator approves the new one:
\`cutover status\` shows it as "awaiting approval" with each pin the local Harbor lacks.

approve opens a delivery window for that revision (intake.windowSeconds, 900 by default): the
next look of \`cutover serve\` copies its pins into the local Harbor, by digest, every platform,
and lets Flux onto it once all are local. Who approved (your Kubernetes identity), when, what was
copied and how long the window was open are recorded in the status ConfigMap (intakeWindow) and as
Kubernetes Events on it (kubectl events -n NS). A window that closes before every pin is local
(upstream unreachable: "expired") leaves Flux where it was; approve again once upstream is back.

Options:
  --revision SHA      the commit you reviewed; refused when the pending revision is another one
  -f, --values FILE   cutover values (default: the install's values ConfigMap in -n)
  -n, --namespace NS  the install's namespace (default catalyst)
Exit codes: 0 approved (or already open); 1 nothing pending, not request mode, or the cluster
failed; 2 bad usage.
`,
  rollback: `cutover rollback [--yes] [--purge] [-f values.yaml] [--kubeconfig K] [--context C] [-n NS]

Undoes the cutover from its journal: every change a step made was recorded before it was made
(object, field, value before, value after; \`cutover journal\` lists them). Works from any state:
a completed cutover, a run failed at any step, a run that was killed.

In order: what a killed step left behind goes (the egress hold, canary pods); the cutover's entries
leave every Kustomization's spec.patches and HelmRelease's post-renderers, and Flux re-applies Git;
every journaled field gets back its value from before the cutover (Flux sources, the catalyst-api
env, annotations); pull Secrets lose the local Harbor credentials the cutover added; every node's
agent restores the node's own containerd hosts.toml and acknowledges; what the cutover created
(Secrets, the node agent when the cutover deployed it) is deleted. Everything is read back and
repaired until it holds. The local Harbor's and Gitea's content stays unless --purge:
then the Gitea mirror (and its org) and the Harbor projects the cutover created are deleted too.

It first prints the API server, context and namespace, and every change it will make; on a terminal
it asks before changing anything (--yes for scripts). It holds the single-flight Lease: it refuses
while a run is in progress (abort it first). The status ConfigMap records who rolled back and when,
and is reset: a later \`cutover run\` starts clean.

Options:
  -f, --values FILE   cutover values (default: the install's values ConfigMap in -n)
  -y, --yes           do not ask for confirmation
  --purge             also delete what the cutover created in Gitea and Harbor, with their content
  -n, --namespace NS  the install's namespace (default catalyst)
Exit codes: 0 rolled back; 1 not confirmed, or something did not hold (it says what; run it again);
3 a cutover is in progress.
`,
};

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
      context: { type: 'string' },
      yes: { type: 'boolean', short: 'y', default: false },
      purge: { type: 'boolean', default: false },
      namespace: { type: 'string', short: 'n', default: 'catalyst' },
      executor: { type: 'string', default: 'local' },
      'status-configmap': { type: 'string', default: 'self-sovereign-cutover-status' },
      output: { type: 'string', short: 'o', default: 'table' },
      config: { type: 'string' },
      within: { type: 'string', default: '30' },
      expect: { type: 'string', default: 'blocked' },
      listen: { type: 'string' },
      role: { type: 'string', default: 'all' },
      all: { type: 'boolean', default: false },
      revision: { type: 'string' },
    },
  });
  if (values.version) {
    console.log(pkg.version);
    return;
  }
  const command = positionals[0];
  if (values.help || !command) {
    console.log((command && COMMAND_HELP[command]) || HELP);
    return;
  }
  const needValues = (): string => {
    if (!values.values) throw new CutoverError('usage', `cutover ${command} needs -f values.yaml`);
    return values.values;
  };
  switch (command) {
    case 'run': {
      const { runCommand } = await import('./commands/run.ts');
      return await runCommand({
        values: needValues(),
        kubeconfig: values.kubeconfig,
        context: values.context,
        namespace: values.namespace,
        executor: values.executor,
        yes: values.yes,
      });
    }
    case 'journal': {
      const { journalCommand } = await import('./commands/rollback.ts');
      return await journalCommand({
        values: values.values,
        kubeconfig: values.kubeconfig,
        context: values.context,
        namespace: values.namespace,
        output: values.output,
      });
    }
    case 'check': {
      const { checkCommand } = await import('./commands/check.ts');
      return await checkCommand({
        values: values.values,
        kubeconfig: values.kubeconfig,
        context: values.context,
        namespace: values.namespace,
        output: values.output,
      });
    }
    case 'abort': {
      const { abortCommand } = await import('./commands/abort.ts');
      return await abortCommand({
        values: values.values,
        kubeconfig: values.kubeconfig,
        context: values.context,
        namespace: values.namespace,
        yes: values.yes,
      });
    }
    case 'rollback': {
      const { rollbackCommand } = await import('./commands/rollback.ts');
      return await rollbackCommand({
        values: values.values,
        kubeconfig: values.kubeconfig,
        context: values.context,
        namespace: values.namespace,
        yes: values.yes,
        purge: values.purge,
      });
    }
    case 'plan': {
      const { planCommand } = await import('./commands/run.ts');
      return await planCommand({
        values: needValues(),
        kubeconfig: values.kubeconfig,
        context: values.context,
        namespace: values.namespace,
      });
    }
    case 'render': {
      const { renderCommand } = await import('./commands/render.ts');
      return renderCommand({ values: needValues(), namespace: values.namespace, version: pkg.version });
    }
    case 'serve': {
      const { serveCommand } = await import('./commands/serve.ts');
      return await serveCommand({
        values: needValues(),
        kubeconfig: values.kubeconfig,
        context: values.context,
        namespace: process.env.POD_NAMESPACE ?? values.namespace,
        listen: values.listen,
        role: values.role as ServeRole,
      });
    }
    case 'tethers': {
      const { tethersCommand } = await import('./commands/tethers.ts');
      return await tethersCommand({
        values: values.values,
        kubeconfig: values.kubeconfig,
        context: values.context,
        namespace: values.namespace,
        output: values.output,
        all: values.all,
      });
    }
    case 'intake': {
      const { intakeCommand } = await import('./commands/intake.ts');
      return await intakeCommand(positionals[1], {
        values: values.values,
        kubeconfig: values.kubeconfig,
        context: values.context,
        namespace: values.namespace,
        revision: values.revision,
      });
    }
    case 'prewarm': {
      const { prewarmCommand } = await import('./commands/prewarm.ts');
      return await prewarmCommand({
        values: needValues(),
        kubeconfig: values.kubeconfig,
        context: values.context,
        namespace: values.namespace,
      });
    }
    case 'step': {
      const name = positionals[1];
      if (!name) throw new CutoverError('usage', 'cutover step needs a step name');
      const { stepCommand } = await import('./commands/run.ts');
      return await stepCommand(name, {
        values: needValues(),
        kubeconfig: values.kubeconfig,
        context: values.context,
        namespace: process.env.POD_NAMESPACE ?? values.namespace,
      });
    }
    case 'status': {
      if (values.output !== 'table' && values.output !== 'json')
        throw new CutoverError('usage', `-o must be table or json, not "${values.output}"`);
      const { statusCommand } = await import('./commands/status.ts');
      return await statusCommand({
        kubeconfig: values.kubeconfig,
        context: values.context,
        namespace: values.namespace,
        configMap: values['status-configmap'],
        output: values.output,
      });
    }
    case 'probe': {
      const within = Number(values.within);
      if (!Number.isFinite(within) || within < 0)
        throw new CutoverError('usage', `--within must be a number of seconds, not "${values.within}"`);
      const { probeCommand } = await import('./commands/probe.ts');
      if (values.expect !== 'blocked' && values.expect !== 'reachable')
        throw new CutoverError('usage', `--expect must be blocked or reachable, not "${values.expect}"`);
      return await probeCommand(positionals.slice(1), within, values.expect);
    }
    case 'agent': {
      if (!values.config) throw new CutoverError('usage', 'cutover agent needs --config agent.json');
      const nodeName = process.env.NODE_NAME;
      if (!nodeName)
        throw new CutoverError('usage', 'cutover agent runs in a pod: NODE_NAME must be set (downward API)');
      const { runAgent } = await import('../agent/agent.ts');
      const { agentStores } = await import('../composition.ts');
      const file = JSON.parse(readFileSync(values.config, 'utf8')) as Omit<AgentConfig, 'nodeName'>;
      const config: AgentConfig = { ...file, nodeName };
      const stop = new AbortController();
      for (const signal of ['SIGTERM', 'SIGINT'] as const) process.once(signal, () => stop.abort());
      const { status, reports } = agentStores(config);
      return await runAgent(config, status, reports, (line) => console.log(line), stop.signal);
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
