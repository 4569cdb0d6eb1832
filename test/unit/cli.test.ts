import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';

const cli = new URL('../../src/cli/main.ts', import.meta.url).pathname;
const run = (...args: string[]) => spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8' });
const version = (
  JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }
).version;

test('cutover --version prints the package version', () => {
  const r = run('--version');
  assert.equal(r.status, 0);
  assert.equal(r.stdout.trim(), version);
});

test('cutover --help explains the product and how to start', () => {
  const r = run('--help');
  assert.equal(r.status, 0);
  assert.match(r.stdout, /^cutover \d+\.\d+\.\d+/);
  assert.match(r.stdout, /npm run demo/);
  assert.match(r.stdout, /npm test/);
});

test('cutover tethers --help and cutover prewarm --help teach the command (states, exemptions, exit codes)', () => {
  const tethers = run('tethers', '--help');
  assert.equal(tethers.status, 0);
  assert.match(tethers.stdout, /^Usage: cutover tethers /);
  for (const word of ['tethered', 'unmapped', 'pivoted', 'exempt:', 'reason:', 'Exit codes'])
    assert.ok(tethers.stdout.includes(word), word);
  const prewarm = run('prewarm', '--help');
  assert.equal(prewarm.status, 0);
  assert.match(prewarm.stdout, /^Usage: cutover prewarm /);
  assert.match(prewarm.stdout, /-f, --values <file>/);
  assert.match(prewarm.stdout, /by digest/);
});

test('an unknown command or option is a usage error (exit 2) naming what was wrong', () => {
  const command = run('frobnicate');
  assert.equal(command.status, 2);
  assert.match(command.stderr, /unknown command 'frobnicate'/);
  const option = run('--frobnicate');
  assert.equal(option.status, 2);
  assert.match(option.stderr, /--frobnicate/);
});

test('cutover serve with sign-in on and no identity provider refuses to start (exit 2), before it touches a cluster', () => {
  const dir = mkdtempSync(join(tmpdir(), 'serve-'));
  try {
    const values = join(dir, 'values.yaml');
    const base = `sovereign: { harborInternalURL: 'http://harbor.test', harborPublicURL: 'https://harbor.test', giteaInternalURL: 'http://gitea.test' }
upstream: { repoURL: 'https://github.com/openova-io/openova.git' }
auth: { signIn: true }
`;
    writeFileSync(values, base);
    // No kubeconfig anywhere: a refusal that came after connecting would name the cluster, not the issuer.
    const env = { ...process.env, KUBECONFIG: join(dir, 'none') };
    const r = spawnSync(process.execPath, [cli, 'serve', '-f', values, '-n', 'x'], { encoding: 'utf8', env });
    assert.equal(r.status, 2, r.stderr);
    assert.match(r.stderr, /no identity provider is configured: set auth\.oidc\.issuerURL, or auth\.signIn: false/);
  } finally {
    rmSync(dir, { recursive: true });
  }
});

test('cutover help <command> is cutover <command> --help; every command has one', () => {
  const commands =
    run('--help')
      .stdout.match(/^ {2}(\w+) /gm)
      ?.map((m) => m.trim()) ?? [];
  assert.ok(commands.length >= 17, commands.join(' '));
  for (const command of commands.filter((c) => c !== 'help')) {
    const viaHelp = run('help', command);
    const viaFlag = run(command, '--help');
    assert.equal(viaHelp.status, 0, command);
    assert.equal(viaHelp.stdout, viaFlag.stdout, command);
    assert.match(viaFlag.stdout, new RegExp(`^Usage: cutover ${command} `), command);
  }
});

test('cutover version: the version, the commit and the Node.js running it, as a table, JSON or YAML', () => {
  const table = run('version');
  assert.equal(table.status, 0);
  assert.match(table.stdout, new RegExp(`^cutover ${version.replace(/\./g, '\\.')}\\ncommit +\\S+\\nnode +v24\\.`));
  const json = JSON.parse(run('version', '-o', 'json').stdout) as Record<string, string>;
  assert.deepEqual(Object.keys(json), ['version', 'commit', 'node']);
  assert.equal(json.version, version);
  assert.equal(json.node, process.version);
  assert.match(run('version', '-o', 'yaml').stdout, new RegExp(`^version: ${version.replace(/\./g, '\\.')}\\n`));
});

test('an option a command does not take, or a value an option does not, is a usage error (exit 2), before any cluster', () => {
  const env = { ...process.env, KUBECONFIG: '/nonexistent' };
  const cases: Array<[string[], RegExp]> = [
    [['status', '--all'], /unknown option '--all'/],
    [['render', '--kubeconfig', 'k', '-f', 'v'], /unknown option '--kubeconfig'/],
    [['status', '-o', 'xml'], /argument 'xml' is invalid\. Allowed choices are table, json, yaml/],
    [['run', '-f', 'v', '--executor', 'threads'], /Allowed choices are local, jobs/],
    [['serve', '-f', 'v', '--role', 'both'], /Allowed choices are all, api, controller/],
    [['plan'], /required option '-f, --values <file>' not specified/],
    [['completion', 'fish'], /Allowed choices are bash, zsh/],
    [['journal', 'extra'], /too many arguments/],
  ];
  for (const [args, message] of cases) {
    const r = spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8', env });
    assert.equal(r.status, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, message, args.join(' '));
  }
});
