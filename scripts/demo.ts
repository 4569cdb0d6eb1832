// `npm run demo`: bring the embedded lab up and show what is there and how to reach it.
// (Later issues make it run a full cutover on this lab.)
import { status, up } from '../lab/lab.ts';
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
  nodes                 ${Object.entries(e.nodes).map(([n, v]) => `${n}: ${v.address}`).join('\n                        ')}
  Kubernetes            ${e.kube.apiserver} (kubeconfig ${e.kube.kubeconfig})
  Gitea                 ${e.gitea.url} (admin ${e.gitea.username})
  cutover values        ${e.valuesFile}

Credentials and every URL: ${ENDPOINTS_FILE}

Try:
  curl -s ${e.localHarbor.url}/api/v2.0/systeminfo
  git ls-remote ${e.git.repoURL}
  ctr --address ${e.nodes['node-a'].address} -n k8s.io images pull --hosts-dir ${e.nodes['node-a'].certsDir} ${e.upstreams.ghcr.host}/openova-io/catalyst-api:1.0.0
  npm run lab -- cut-upstream      # then the pull above fails for images the node never had
  npm run lab -- restore-upstream
  npm run lab -- down
`);
const peers = await status();
for (const p of peers) console.log(`  ${p.up ? 'up  ' : 'DOWN'}  ${p.role.padEnd(8)}  ${p.peer}`);
process.exitCode = peers.every((p) => p.up) ? 0 : 1;
