// `npm test`: the static checks (dependency rules, lint, format, types) and the unit tier first —
// none needs the lab, and a violation fails the run — then bring the lab up once (shared by every
// test), run the lab tests — the ones that cut the shared upstream alone, after the rest — then put
// the lab back as found. Prints where the time went.
import { spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { down, resetSovereign, status, up } from '../lab/lab.ts';
import { REPO_ROOT } from '../lab/topology.ts';

const timings: Array<[string, number]> = [];
async function phase<T>(name: string, work: () => Promise<T>): Promise<T> {
  console.log(`\n==> ${name}`);
  const started = performance.now();
  try {
    return await work();
  } finally {
    timings.push([name, (performance.now() - started) / 1000]);
  }
}

function run(command: string, args: string[]): Promise<{ code: number; output: string }> {
  return new Promise((resolve) => {
    const child = spawn(command, args, { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => {
      process.stdout.write(chunk);
      output += chunk.toString();
    });
    child.on('close', (code) => resolve({ code: code ?? 1, output }));
  });
}

const testFiles = (dir: string): string[] =>
  readdirSync(join(REPO_ROOT, dir))
    .filter((f) => f.endsWith('.test.ts'))
    .sort()
    .map((f) => join(dir, f));

const counts = { pass: 0, fail: 0, skipped: 0 };
function tally(output: string): void {
  for (const key of Object.keys(counts) as Array<keyof typeof counts>) {
    const m = new RegExp(`^ℹ ${key} (\\d+)$`, 'm').exec(output);
    counts[key] += Number(m?.[1] ?? 0);
  }
}

/** Waits (up to 3 minutes) until no namespace labelled as a test's remains. */
async function quietCluster(): Promise<void> {
  const { KubeCluster } = await import('../src/adapters/kube/cluster.ts');
  const { ADMIN_KUBECONFIG } = await import('../lab/kube/control-plane.ts');
  const cluster = KubeCluster.connect(ADMIN_KUBECONFIG);
  const deadline = Date.now() + 180_000;
  for (;;) {
    const left = (await cluster.core.listNamespace({ labelSelector: 'sovereign.lab/test=true' })).items.map(
      (n) => n.metadata?.name ?? '',
    );
    if (!left.length) return;
    if (Date.now() > deadline) {
      console.log(`still terminating after 3 minutes: ${left.join(', ')}`);
      return;
    }
    await new Promise((resolve) => setTimeout(resolve, 1000));
  }
}

const TEST_FLAGS = ['--test', '--test-reporter=spec'];

let failed = false;
// Each tool runs on this Node (24), whatever `node` the shell would find.
const tool = (path: string, args: string[]) => run(process.execPath, [join(REPO_ROOT, 'node_modules', path), ...args]);
const checks: Array<[string, () => Promise<{ code: number }>]> = [
  [
    'dependency rules (dependency-cruiser)',
    () =>
      tool('dependency-cruiser/bin/dependency-cruiser.mjs', [
        '--config',
        '.dependency-cruiser.cjs',
        'src',
        'lab',
        'test',
        'scripts',
        'bench',
      ]),
  ],
  ['lint (eslint)', () => tool('eslint/bin/eslint.js', ['.'])],
  ['format (prettier --check)', () => tool('prettier/bin/prettier.cjs', ['--check', '--log-level', 'warn', '.'])],
  ['typecheck (tsc --noEmit)', () => tool('typescript/bin/tsc', ['--noEmit', '-p', '.'])],
  [
    'unit tests (no lab)',
    async () => {
      const unit = await run(process.execPath, [...TEST_FLAGS, ...testFiles('test/unit')]);
      tally(unit.output);
      return unit;
    },
  ],
];
for (const [name, check] of checks) {
  const result = await phase(name, check);
  if (result.code !== 0) failed = true;
}
if (failed) {
  // Fail fast: a broken rule or unit is not worth a lab.
  console.log('\nthe checks above failed; the lab tests were not run');
  process.exit(1);
}

const before = await status().catch(() => []);
const labWasUp = before.length > 0 && before.every((p) => p.up);
await phase('lab up', async () => {
  await up();
  // The tests start from a tethered Sovereign, whatever ran on the lab before (npm run demo pivots it).
  await resetSovereign();
});
try {
  const node = process.execPath;
  const flags = TEST_FLAGS;
  const parallel = await phase('tests', () => run(node, [...flags, ...testFiles('test')]));
  tally(parallel.output);
  // The serial tests cut over the whole cluster: what the parallel tests left behind (namespaces
  // still terminating, their workloads on unmapped images) must be gone first.
  await phase('waiting for test namespaces to go', () => quietCluster());
  // These cut the shared lab's upstream or act on every workload in the cluster (step 03 refuses
  // another test's planted unmapped tethers), so nothing else may run beside them.
  const serial = await phase('tests that need the whole cluster (one at a time)', () =>
    run(node, [...flags, '--test-concurrency=1', ...testFiles('test/serial')]),
  );
  tally(serial.output);
  if (parallel.code !== 0 || serial.code !== 0) failed = true;
} finally {
  if (!labWasUp) await phase('lab down', () => down());
}

console.log('\nwhere the time went:');
for (const [name, seconds] of timings) console.log(`  ${seconds.toFixed(1).padStart(6)} s  ${name}`);
console.log(`\n${counts.pass} passed, ${counts.fail} failed${counts.skipped ? `, ${counts.skipped} skipped` : ''}`);
process.exit(failed || counts.fail > 0 || counts.pass === 0 ? 1 : 0);
