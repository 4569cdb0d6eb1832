// `npm run demo`: bring the embedded lab up (a tethered Sovereign of real peers), install the
// cutover dormant into it (`cutover render`, applied), and hand over to the console: sign in and
// press "Achieve True Sovereignty".
import { installCutover, resetSovereign, status, up } from '../lab/lab.ts';
import { ENDPOINTS_FILE } from '../lab/topology.ts';

const e = await up();
console.log(`
The lab is a tethered Sovereign on 127.0.0.1:

  upstream registries   ghcr.io  → ${e.upstreams.ghcr.url}
                        docker.io → ${e.upstreams.docker.url}
                        quay.io  → ${e.upstreams.quay.url}
  upstream Git          ${e.git.repoURL} (branches ${e.git.branch}, ${e.git.secondBranch}; tag ${e.git.tag})
  mothership Harbor     ${e.mothership.url} (API double; proxy projects ${Object.values(e.mothership.proxyProjects).join(', ')})
  local Harbor          ${e.localHarbor.url} (API double, empty: the cutover fills it)
  nodes                 ${Object.entries(e.nodes)
    .map(([n, v]) => `${n}: ${v.address}`)
    .join('\n                        ')}
  Kubernetes            ${e.kube.apiserver} (kubeconfig ${e.kube.kubeconfig})
  Gitea                 ${e.gitea.url} (admin ${e.gitea.username})
  identity provider     ${e.oidc.issuer} (OpenID Connect)
  cutover values        ${e.valuesFile}

Credentials and every URL: ${ENDPOINTS_FILE}
`);
const peers = await status();
for (const p of peers) console.log(`  ${p.up ? 'up  ' : 'DOWN'}  ${p.role.padEnd(8)}  ${p.peer}`);
if (!peers.every((p) => p.up)) process.exit(1);

await resetSovereign((line) => console.log(`\n${line}`));
const url = await installCutover((line) => console.log(line));
console.log(`
Open the console:  ${url}
  sign in as  admin / ${e.oidc.users.admin.password}   (a sovereign-admin; viewer / ${e.oidc.users.viewer.password} can only watch)
  press "Achieve True Sovereignty", confirm, and watch the eight steps (about a minute, 20 s of it with upstream egress blocked).

Or from a terminal:
  node_modules/.bin/node src/cli/main.ts status --kubeconfig ${e.kube.kubeconfig} -n catalyst
  node_modules/.bin/node src/cli/main.ts run -f ${e.valuesFile} --kubeconfig ${e.kube.kubeconfig} -n catalyst
Then:
  npm run lab -- cut-upstream      # the Sovereign no longer needs its upstreams
  npm run lab -- reset             # back to tethered (removes the install), to run it again
  npm run lab -- down
`);
