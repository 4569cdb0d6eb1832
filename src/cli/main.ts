#!/usr/bin/env node
// `cutover` — the product's command line (ADR 0022: commander). This entry declares every command
// with the options it takes (an option a command does not take is an error), dispatches, and decides
// the exit code for every failure, in one place.
import { readFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { Argument, Command, CommanderError, Option } from 'commander';
import { CutoverError, redact } from '../core/errors.ts';
import type { AgentConfig } from '../core/contracts.ts';
import { BUILT_FROM, DESCRIPTION, VERSION } from '../core/version.ts';
import { ABOUT, COMMAND_HELP } from './help.ts';
import { completionScript } from './completion.ts';
import { printDocument } from './output.ts';
import { LOG_FORMATS, LOG_LEVELS, OUTPUTS, SERVE_ROLES, SHELLS, type ServeRole, type Shell } from './choices.ts';
import { createLog, type LogFormat, type LogLevel } from './log.ts';

const pkg = { version: VERSION, description: DESCRIPTION };

/** The commit this program was built from: the packed build says; a checkout asks git. */
function commit(): string {
  if (BUILT_FROM) return BUILT_FROM;
  const git = spawnSync('git', ['rev-parse', '--short=12', 'HEAD'], {
    cwd: new URL('.', import.meta.url).pathname,
    encoding: 'utf8',
  });
  return git.status === 0 ? git.stdout.trim() : 'unknown';
}

interface ClusterFlags {
  kubeconfig?: string;
  context?: string;
  namespace: string;
}

/** kubectl's flags, on every command that talks to a cluster. */
function clusterFlags(command: Command, namespaceFromPod = false): Command {
  return command
    .option(
      '--kubeconfig <file>',
      'the cluster to act on (default: in-cluster identity, then $KUBECONFIG, ~/.kube/config)',
    )
    .option('--context <name>', "the kubeconfig context to use (default: the kubeconfig's current one)")
    .option(
      '-n, --namespace <ns>',
      `the install namespace: status ConfigMap, journal, Lease, step ConfigMaps${namespaceFromPod ? ' ($POD_NAMESPACE in a pod)' : ''}`,
      'catalyst',
    );
}

/** In a pod, the install namespace is the pod's ($POD_NAMESPACE) unless -n says otherwise. */
const fromPod = (command: Command) => command.getOptionValueSource('namespace') !== 'cli';

const cluster = (o: ClusterFlags, namespaceFromPod = false) => ({
  kubeconfig: o.kubeconfig,
  context: o.context,
  namespace: (namespaceFromPod ? process.env.POD_NAMESPACE : undefined) ?? o.namespace,
});

const valuesRequired = (command: Command) =>
  command.requiredOption(
    '-f, --values <file>',
    "cutover values (the seed chart's keys), validated before anything touches a cluster",
  );
const valuesOptional = (command: Command) =>
  command.option('-f, --values <file>', "cutover values (default: the install's values ConfigMap in the namespace)");
const output = (command: Command) =>
  command.addOption(new Option('-o, --output <format>', 'how to print').choices(OUTPUTS).default('table'));
/** How the long-running commands log: JSON lines (pino) by default in a pod, text on a terminal. */
const logFlags = (command: Command) =>
  command
    .addOption(
      new Option('--log-format <format>', 'json lines or text (default: json in a pod, text elsewhere)').choices(
        LOG_FORMATS,
      ),
    )
    .addOption(
      new Option('--log-level <level>', 'the least a line must be to be logged').choices(LOG_LEVELS).default('info'),
    );
const logOf = (o: { logFormat?: LogFormat; logLevel?: LogLevel }) => ({ logFormat: o.logFormat, logLevel: o.logLevel });
const yes = (command: Command) =>
  command.option(
    '-y, --yes',
    'do not ask for confirmation on a terminal (commands that change a cluster print its API server, context and namespace first)',
    false,
  );

export function program(): Command {
  const cutover = new Command('cutover')
    .description(pkg.description)
    .version(pkg.version, '-v, --version', 'print the version')
    .addHelpText('before', `cutover ${pkg.version}\n`)
    .addHelpText('after', ABOUT)
    .showSuggestionAfterError()
    .exitOverride()
    // Errors are printed once, by main, as `cutover: …`.
    .configureOutput({ outputError: () => {} });

  clusterFlags(
    valuesRequired(
      yes(logFlags(cutover.command('run').description('run the chain (resumes; re-verifies what passed)'))),
    ),
  )
    .addOption(
      new Option(
        '--executor <kind>',
        'local: each step in this process; jobs: each job-mode step as a Job from the step ConfigMaps',
      )
        .choices(['local', 'jobs'])
        .default('local'),
    )
    .action(async (o) => {
      const { runCommand } = await import('./commands/run.ts');
      await runCommand({ values: o.values, ...cluster(o), executor: o.executor, yes: o.yes, log: logOf(o) });
    });

  output(
    clusterFlags(
      valuesRequired(cutover.command('plan').description('every change each step would make; writes nothing')),
    ),
  ).action(async (o) => {
    const { planCommand } = await import('./commands/run.ts');
    await planCommand({ values: o.values, ...cluster(o), output: o.output });
  });

  output(
    clusterFlags(
      cutover
        .command('status')
        .description('the status ConfigMap: state, steps, the failed step, the Sovereign condition'),
    ),
  )
    .option('--status-configmap <name>', 'the status ConfigMap', 'self-sovereign-cutover-status')
    .option('-w, --watch', 'print again on every change, until interrupted', false)
    .action(async (o) => {
      const { statusCommand } = await import('./commands/status.ts');
      await statusCommand({ ...cluster(o), configMap: o.statusConfigmap, output: o.output, watch: o.watch });
    });

  // `--no-namespace` is commander's negation of `--namespace`: the name given with -n is kept apart.
  let renderNamespace = 'catalyst';
  valuesRequired(cutover.command('render').description('the dormant install as Kubernetes YAML (kubectl apply -f -)'))
    .option('-n, --namespace <ns>', 'the install namespace', 'catalyst')
    .option('--no-namespace', 'leave the install Namespace object out (Helm or Flux creates it); -n still names it')
    .on('option:namespace', (ns: string) => (renderNamespace = ns))
    .option(
      '--blueprint',
      "also the catalogue's Blueprint document (catalyst.openova.io/v1alpha1: its CRD must be served)",
      false,
    )
    .action(async (o) => {
      const { renderCommand } = await import('./commands/render.ts');
      renderCommand({
        values: o.values,
        namespace: renderNamespace,
        namespaceObject: o.namespace !== false,
        version: pkg.version,
        blueprint: o.blueprint,
      });
    });

  cutover
    .command('chart')
    .description('the install as a Helm chart, generated from the renderer (helm template equals cutover render)')
    .option('-f, --values <file>', "the chart's default values (default: those of 'cutover values --example')")
    .requiredOption('--out <dir>', 'the chart directory to write (its files are replaced)')
    .addHelpText('after', COMMAND_HELP.chart ?? '')
    .action(async (o) => {
      const { chartCommand } = await import('./commands/chart.ts');
      chartCommand({ values: o.values, out: o.out, version: pkg.version });
    });

  clusterFlags(
    valuesRequired(
      logFlags(
        cutover.command('serve').description('the API and console, the controller that runs the engine, or both'),
      ),
    ),
    true,
  )
    .addOption(
      new Option(
        '--role <role>',
        'api: the console and API (writes requests, runs nothing); controller: takes them (engine, guard, intake, rollback, inventory; no port); all: both in one process',
      )
        .choices(SERVE_ROLES)
        .default('all'),
    )
    .option('--listen <host:port>', 'where the API listens (default: values api.bindAddress:api.port)')
    .action(async (o, cmd: Command) => {
      const { serveCommand } = await import('./commands/serve.ts');
      await serveCommand({
        values: o.values,
        ...cluster(o, fromPod(cmd)),
        listen: o.listen,
        role: o.role as ServeRole,
        log: logOf(o),
      });
    });

  output(
    clusterFlags(
      valuesOptional(
        cutover
          .command('tethers')
          .description('every reference to an upstream host in the cluster, and where it should point'),
      ),
    ),
  )
    .option('--all', 'also list what is already pivoted', false)
    .addHelpText('after', COMMAND_HELP.tethers ?? '')
    .action(async (o) => {
      const { tethersCommand } = await import('./commands/tethers.ts');
      await tethersCommand({ values: o.values, ...cluster(o), output: o.output, all: o.all });
    });

  clusterFlags(
    valuesRequired(
      cutover
        .command('prewarm')
        .description('copy every artifact in use into the local Harbor (step 03 alone), with progress'),
    ),
  )
    .option('--no-progress', 'no progress bar, one line per event (as in a log), even on a terminal')
    .addHelpText('after', COMMAND_HELP.prewarm ?? '')
    .action(async (o) => {
      const { prewarmCommand } = await import('./commands/prewarm.ts');
      await prewarmCommand({ values: o.values, ...cluster(o), progress: o.progress });
    });

  clusterFlags(
    valuesOptional(cutover.command('intake').description('intake.mode request: let the pending revision in')),
  )
    .argument('<action>', 'approve')
    .option('--revision <sha>', 'the commit you reviewed; refused when the pending revision is another one')
    .addHelpText('after', COMMAND_HELP.intake ?? '')
    .action(async (action: string, o) => {
      const { intakeCommand } = await import('./commands/intake.ts');
      await intakeCommand(action, { values: o.values, ...cluster(o), revision: o.revision });
    });

  output(
    clusterFlags(
      valuesOptional(
        cutover
          .command('check')
          .description('is this cluster ready? RBAC, Harbor, Gitea, Flux APIs, Pod Security, a rehearsal of the hold'),
      ),
    ),
  ).action(async (o) => {
    const { checkCommand } = await import('./commands/check.ts');
    await checkCommand({ values: o.values, ...cluster(o), output: o.output });
  });

  output(
    clusterFlags(
      valuesOptional(
        cutover.command('journal').description('every change the cutover made: object, field, before, after, step'),
      ),
    ),
  ).action(async (o) => {
    const { journalCommand } = await import('./commands/rollback.ts');
    await journalCommand({ values: o.values, ...cluster(o), output: o.output });
  });

  clusterFlags(
    valuesOptional(
      yes(
        logFlags(cutover.command('rollback').description('undo the cutover from the journal: the tethered state back')),
      ),
    ),
  )
    .option('--purge', 'also delete what the cutover created in Gitea and Harbor, with their content', false)
    .addHelpText('after', COMMAND_HELP.rollback ?? '')
    .action(async (o) => {
      const { rollbackCommand } = await import('./commands/rollback.ts');
      await rollbackCommand({ values: o.values, ...cluster(o), yes: o.yes, purge: o.purge, log: logOf(o) });
    });

  clusterFlags(
    valuesOptional(
      yes(cutover.command('abort').description('stop the running cutover (here or in the cluster) at a safe point')),
    ),
  ).action(async (o) => {
    const { abortCommand } = await import('./commands/abort.ts');
    await abortCommand({ values: o.values, ...cluster(o), yes: o.yes });
  });

  clusterFlags(
    valuesRequired(logFlags(cutover.command('step').description('one step in this process (the step Job entrypoint)'))),
    true,
  )
    .argument('<name>', 'the step')
    .action(async (name: string, o, cmd: Command) => {
      const { stepCommand } = await import('./commands/run.ts');
      await stepCommand(name, { values: o.values, ...cluster(o, fromPod(cmd)), log: logOf(o) });
    });

  logFlags(cutover.command('agent'))
    .description('the node agent (the registry-pivot DaemonSet entrypoint; NODE_NAME from the downward API)')
    .requiredOption('--config <file>', 'the agent config registry-pivot writes into its ConfigMap')
    .action(async (o: { config: string; logFormat?: LogFormat; logLevel?: LogLevel }) => {
      const nodeName = process.env.NODE_NAME;
      if (!nodeName)
        throw new CutoverError('usage', 'cutover agent runs in a pod: NODE_NAME must be set (downward API)');
      const { runAgent } = await import('../agent/agent.ts');
      const { agentStores } = await import('../composition.ts');
      const config = (): AgentConfig => ({
        ...(JSON.parse(readFileSync(o.config, 'utf8')) as Omit<AgentConfig, 'nodeName'>),
        nodeName,
      });
      const stop = new AbortController();
      for (const signal of ['SIGTERM', 'SIGINT'] as const) process.once(signal, () => stop.abort());
      const { status, reports } = agentStores(config());
      await runAgent(config, status, reports, createLog(logOf(o), `agent/${nodeName}`), stop.signal);
    });

  cutover
    .command('probe')
    .description('egress probe: exit 0 when every URL is unreachable (blocked)')
    .argument('<url...>', 'the URLs to try')
    .option('--within <seconds>', 'how long a policy may take to take effect before a reachable URL is a LEAK', '30')
    .addOption(
      new Option('--expect <what>', "reachable: exit 0 when at least one URL answers (step 08's check before the hold)")
        .choices(['blocked', 'reachable'])
        .default('blocked'),
    )
    .action(async (urls: string[], o: { within: string; expect: 'blocked' | 'reachable' }) => {
      const within = Number(o.within);
      if (!Number.isFinite(within) || within < 0)
        throw new CutoverError('usage', `--within must be a number of seconds, not "${o.within}"`);
      const { probeCommand } = await import('./commands/probe.ts');
      await probeCommand(urls, within, o.expect);
    });

  cutover
    .command('values')
    .description(
      'a commented values file to start from (--example), or the JSON Schema the values are validated against (--schema)',
    )
    .option('--example', 'print a commented values file', false)
    .option('--schema', 'print the JSON Schema', false)
    .action(async (o: { example: boolean; schema: boolean }) => {
      if (o.example === o.schema) throw new CutoverError('usage', 'cutover values takes one of --example or --schema');
      if (o.example) {
        const { VALUES_EXAMPLE } = await import('./values-example.ts');
        process.stdout.write(VALUES_EXAMPLE);
      } else {
        const { VALUES_SCHEMA } = await import('../core/values.ts');
        console.log(JSON.stringify({ $schema: 'http://json-schema.org/draft-07/schema#', ...VALUES_SCHEMA }, null, 2));
      }
    });

  output(
    cutover.command('version').description('the version, the commit it was built from, and the Node.js running it'),
  ).action((o: { output: string }) => {
    const info = { version: pkg.version, commit: commit(), node: process.version };
    if (!printDocument(o.output, info))
      console.log(`cutover ${info.version}\ncommit   ${info.commit}\nnode     ${info.node}`);
  });

  cutover
    .command('completion')
    .description(
      'a shell completion script: source <(cutover completion bash), or zsh into a directory on $fpath as _cutover',
    )
    .addArgument(new Argument('<shell>', 'bash or zsh').choices(SHELLS))
    .action((shell: Shell) => {
      process.stdout.write(completionScript(cutover, shell));
    });

  return cutover;
}

/** Exit codes, decided here only. */
export function exitCodeFor(error: unknown): number {
  if (error instanceof CutoverError && (error.code === 'usage' || error.code === 'invalid-values')) return 2;
  if (error instanceof CutoverError && error.code === 'in-progress') return 3;
  if (error instanceof CommanderError) return 2;
  return 1;
}

/** package.json's `engines`: tls.setDefaultCACertificates (the private-CA trust, ADR 0014) came in Node.js 24.5. */
const MIN_NODE = [24, 5] as const;

export async function main(argv: string[]): Promise<void> {
  const [major = 0, minor = 0] = process.versions.node.split('.').map(Number);
  if (major < MIN_NODE[0] || (major === MIN_NODE[0] && minor < MIN_NODE[1]))
    throw new CutoverError(
      'usage',
      `cutover needs Node.js ${MIN_NODE.join('.')} or later (it trusts private CAs through tls.setDefaultCACertificates); this is ${process.version}`,
    );
  const cli = program();
  if (!argv.length) {
    cli.outputHelp();
    return;
  }
  try {
    await cli.parseAsync(argv, { from: 'user' });
  } catch (error) {
    // --help, help <cmd> and --version end the parse this way: they are answers, not failures.
    if (error instanceof CommanderError && error.exitCode === 0) return;
    throw error;
  }
}

try {
  await main(process.argv.slice(2));
} catch (error) {
  const message = error instanceof Error ? error.message.replace(/^error: /, '') : String(error);
  console.error(`cutover: ${redact(message)}${error instanceof CommanderError ? ' (see cutover --help)' : ''}`);
  process.exitCode = exitCodeFor(error);
}
