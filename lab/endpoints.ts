// The lab's address book: every peer's URL and credentials as `.lab/endpoints.json` records them
// for the tests, the demo and the benchmarks, and the lab's nodes and upstream registries.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { UpstreamName } from './corpus/spec.ts';
import { GITEA_ADMIN, GITEA_URL } from './gitea/gitea.ts';
import { harborUrl } from './harbor/harbor.ts';
import { ADMIN_KUBECONFIG, APISERVER_URL } from './kube/control-plane.ts';
import { nodePaths, NODE_NAMESPACE, type LabNode } from './nodes/containerd.ts';
import { OIDC_ISSUER } from './oidc/oidc.ts';
import { PEERS_CERT } from './peers-pki.ts';
import { registryUrl, type RegistryInstance } from './registry.ts';
import {
  GITOPS,
  clusterHost,
  HARBOR_ADMIN,
  internetHost,
  LAB_DIR,
  MOTHERSHIP_ADMIN,
  MOTHERSHIP_PROXY_PROJECTS,
  NET,
  NODES,
  OIDC_CLIENT,
  OIDC_USERS,
  PORTS,
  UPSTREAMS,
  type Endpoints,
} from './topology.ts';

export const UPSTREAM_NAMES = Object.keys(UPSTREAMS) as UpstreamName[];
/** Present while the upstream peers are cut. */
export const CUT_MARKER = join(LAB_DIR, 'upstream-cut');
export const VALUES_FILE = join(LAB_DIR, 'values.yaml');
const GITEA_TOKEN_FILE = join(LAB_DIR, 'gitea', 'admin-token');

export function upstreamRegistry(name: UpstreamName): RegistryInstance {
  return {
    name,
    port: UPSTREAMS[name].port,
    address: NET.internet.ip,
    dir: join(LAB_DIR, 'upstreams', name),
    ...(UPSTREAMS[name].tls ? { tls: PEERS_CERT } : {}),
    // The proof that after the cutover only the cutover's copier reaches upstream (issue 15).
    accessLog: true,
  };
}

export function labNodes(): LabNode[] {
  return NODES.map((name) => ({ name, dir: join(LAB_DIR, 'nodes', name) }));
}

export function endpoints(): Endpoints {
  const upstreams = Object.fromEntries(
    UPSTREAM_NAMES.map((n) => [
      n,
      {
        url: registryUrl(upstreamRegistry(n)),
        host: internetHost(UPSTREAMS[n].port),
        standsFor: UPSTREAMS[n].standsFor,
      },
    ]),
  ) as Endpoints['upstreams'];
  const gitUrl = `https://${internetHost(PORTS.git)}`;
  return {
    upstreams,
    git: {
      url: gitUrl,
      repoURL: `${gitUrl}/${GITOPS.org}/${GITOPS.repo}.git`,
      branch: GITOPS.branch,
      secondBranch: GITOPS.secondBranch,
      tag: GITOPS.tag,
    },
    mothership: {
      url: harborUrl('mothership'),
      host: internetHost(PORTS.mothership),
      ...MOTHERSHIP_ADMIN,
      proxyProjects: MOTHERSHIP_PROXY_PROJECTS,
    },
    localHarbor: { url: harborUrl('local'), host: clusterHost(PORTS.localHarbor), ...HARBOR_ADMIN },
    nodes: Object.fromEntries(
      labNodes().map((node) => {
        const p = nodePaths(node);
        return [node.name, { address: p.address, namespace: NODE_NAMESPACE, certsDir: p.certsDir, root: p.root }];
      }),
    ) as Endpoints['nodes'],
    kube: { apiserver: APISERVER_URL, kubeconfig: ADMIN_KUBECONFIG },
    gitea: {
      url: GITEA_URL,
      username: GITEA_ADMIN.username,
      password: GITEA_ADMIN.password,
      token: existsSync(GITEA_TOKEN_FILE) ? readFileSync(GITEA_TOKEN_FILE, 'utf8').trim() : '',
    },
    oidc: { issuer: OIDC_ISSUER, ...OIDC_CLIENT, users: OIDC_USERS },
    valuesFile: VALUES_FILE,
    upstreamCut: existsSync(CUT_MARKER),
  };
}
