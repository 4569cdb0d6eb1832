// `npm run demo`: bring the embedded lab up (a tethered Sovereign of real peers), then press
// "Achieve True Sovereignty" on it: `cutover run` against the lab, live, and its status after.
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { resetSovereign, status, up } from '../lab/lab.ts';
import { ENDPOINTS_FILE, REPO_ROOT } from '../lab/topology.ts';

const e = await up();
console.log(`
The lab is a tethered Sovereign on 127.0.0.1:

  upstream registries   ghcr.io  → ${e.upstreams.ghcr.url}
                        docker.io → ${e.upstreams.docker.url}
                        quay.io  → ${e.upstreams.quay.url}
  upstream Git          ${e.git.repoURL} (branches ${e.git.branch}, ${e.git.secondBranch}; tag ${e.git.tag})
  mothership Harbor     ${e.mothership.url} (API double; proxy projects ${Object.values(e.mothership.proxyProjects).join(', ')})
  local Harbor          ${e.localHarbor.url} (API double, empty: the cutover fills it)
  nodes                 ${Object.entries(e.nodes).map(([n, v]) => `${n}: ${v.address}`).join('\n                        ')}
  Kubernetes            ${e.kube.apiserver} (kubeconfig ${e.kube.kubeconfig})
  Gitea                 ${e.gitea.url} (admin ${e.gitea.username})
  cutover values        ${e.valuesFile}

Credentials and every URL: ${ENDPOINTS_FILE}
`);
const peers = await status();
for (const p of peers) console.log(`  ${p.up ? 'up  ' : 'DOWN'}  ${p.role.padEnd(8)}  ${p.peer}`);
if (!peers.every((p) => p.up)) process.exit(1);

await resetSovereign((line) => console.log(`\n${line} — now: Achieve True Sovereignty\n`));
const cli = join(REPO_ROOT, 'src', 'cli', 'main.ts');
const cluster = ['--kubeconfig', e.kube.kubeconfig, '-n', 'catalyst'];
const started = performance.now();
const run = spawnSync(process.execPath, [cli, 'run', '-f', e.valuesFile, ...cluster], { stdio: 'inherit' });
console.log(`\ncutover run finished in ${((performance.now() - started) / 1000).toFixed(1)} s (exit ${run.status})\n`);
spawnSync(process.execPath, [cli, 'status', ...cluster], { stdio: 'inherit' });
console.log(`
Try:
  node_modules/.bin/node src/cli/main.ts status --kubeconfig ${e.kube.kubeconfig} -n catalyst
  node_modules/.bin/node src/cli/main.ts run -f ${e.valuesFile} --kubeconfig ${e.kube.kubeconfig} -n catalyst   # again: nothing to do
  npm run lab -- cut-upstream      # the Sovereign no longer needs its upstreams
  npm run lab -- reset             # back to tethered, to run the cutover again
  npm run lab -- down
`);
process.exitCode = run.status ?? 1;
