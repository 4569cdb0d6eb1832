// Where every lab peer lives: its address and port on the lab network, directories under .lab/, credentials.
// One table, read by `lab up`, the tests, the demo and (later) the benchmarks.
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { UpstreamName } from './corpus/spec.ts';

export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const LAB_DIR = process.env.SOVEREIGN_LAB_DIR ?? join(REPO_ROOT, '.lab');
/** The API specs vendored in the repository (specs/README.md says where each came from). */
export const SPECS_DIR = join(REPO_ROOT, 'specs');
export const HARBOR_SWAGGER = join(SPECS_DIR, 'harbor', 'swagger.yaml');
export const GITEA_SWAGGER = join(SPECS_DIR, 'gitea', 'swagger.v1.22.json');
export const FLUX_CRDS_DIR = join(SPECS_DIR, 'flux');

const BASE = Number(process.env.SOVEREIGN_LAB_PORT_BASE ?? 15000);

/** `tls`: serves HTTPS with a certificate the lab's private CA signed (an upstream behind a TLS-inspecting proxy, or a private upstream). */
export const UPSTREAMS: Record<UpstreamName, { port: number; standsFor: string; tls: boolean }> = {
  ghcr: { port: BASE + 1, standsFor: 'ghcr.io', tls: false },
  docker: { port: BASE + 2, standsFor: 'docker.io', tls: false },
  quay: { port: BASE + 3, standsFor: 'quay.io', tls: true },
};

export const PORTS = {
  git: BASE + 4,
  mothership: BASE + 10,
  mothershipStore: BASE + 11,
  localHarbor: BASE + 20,
  localHarborStore: BASE + 21,
  gitea: BASE + 30,
  oidc: BASE + 40,
  /** `cutover serve` in the lab: the in-cluster API (and the demo's console) on the first, tests on the rest. */
  api: BASE + 50,
  etcdClient: BASE + 79,
  etcdPeer: BASE + 80,
  apiserver: BASE + 443,
  controllerManager: BASE + 257,
  sourceControllerStorage: BASE + 90,
  sourceControllerMetrics: BASE + 91,
  sourceControllerHealth: BASE + 92,
  kustomizeControllerMetrics: BASE + 93,
  kustomizeControllerHealth: BASE + 94,
  helmControllerMetrics: BASE + 95,
  helmControllerHealth: BASE + 96,
  networkPoliciesMetrics: BASE + 97,
};

/**
 * The lab network (ADR 0015): addresses on interfaces the lab creates, so that pods — each in its own
 * network namespace — reach peers the way they would in a cluster, and a NetworkPolicy can judge it.
 */
export const NET = {
  /** Upstream peers (registries, Git, the mothership): an "internet" address (TEST-NET-3). */
  internet: { bridge: 'labinet0', ip: '203.0.113.10' },
  /** The Sovereign's own peers (local Harbor, Gitea, the identity provider): a cluster address. */
  cluster: { bridge: 'labclus0', ip: '10.43.0.10' },
  /** The control plane's node address: the apiserver binds and advertises it. */
  controlPlane: { bridge: 'labnode0', ip: '172.20.0.10' },
  podCIDR: '10.42.0.0/16',
  serviceCIDR: '10.96.0.0/16',
  /** The `kubernetes` Service's cluster IP (the first of serviceCIDR), as pods are told it. */
  kubernetesServiceIP: '10.96.0.1',
};

/** An upstream peer's `host:port`, as registries and certs.d name it. */
export function internetHost(port: number): string {
  return `${NET.internet.ip}:${port}`;
}

/** A Sovereign-local peer's `host:port`. */
export function clusterHost(port: number): string {
  return `${NET.cluster.ip}:${port}`;
}

export const NODES = ['node-a', 'node-b'] as const;
export type NodeName = (typeof NODES)[number];

/** Each node's pod subnet, on a bridge of its own, and its InternalIP on the nodes' network. */
export const NODE_NETWORKS: Record<NodeName, { bridge: string; subnet: string; gateway: string; address: string }> = {
  'node-a': { bridge: 'labpods-a', subnet: '10.42.0.0/24', gateway: '10.42.0.1', address: '172.20.0.11' },
  'node-b': { bridge: 'labpods-b', subnet: '10.42.1.0/24', gateway: '10.42.1.1', address: '172.20.0.12' },
};

/** The mothership's pre-provisioned proxy-cache projects, one per upstream (names as the seed's). */
export const MOTHERSHIP_PROXY_PROJECTS: Record<UpstreamName, string> = {
  ghcr: 'proxy-ghcr',
  docker: 'proxy-docker',
  quay: 'proxy-quay',
};

export const GITOPS = {
  org: 'openova-io',
  repo: 'openova',
  branch: 'main',
  secondBranch: 'release-0.1',
  tag: 'v0.1.0',
};

export interface Endpoints {
  upstreams: Record<UpstreamName, { url: string; host: string; standsFor: string }>;
  git: { url: string; repoURL: string; branch: string; secondBranch: string; tag: string };
  mothership: {
    url: string;
    host: string;
    username: string;
    password: string;
    proxyProjects: Record<UpstreamName, string>;
  };
  localHarbor: { url: string; host: string; username: string; password: string };
  nodes: Record<NodeName, { address: string; namespace: string; certsDir: string; root: string }>;
  kube: { apiserver: string; kubeconfig: string };
  gitea: { url: string; username: string; password: string; token: string };
  oidc: { issuer: string; clientID: string; clientSecret: string; users: typeof OIDC_USERS };
  /** The cutover values for the seeded Sovereign. */
  valuesFile: string;
  upstreamCut: boolean;
}

export const ENDPOINTS_FILE = join(LAB_DIR, 'endpoints.json');

/** The endpoints of a lab that `lab up` brought up; a clear error when there is none. */
export function readEndpoints(): Endpoints {
  if (!existsSync(ENDPOINTS_FILE)) throw new Error(`no lab at ${LAB_DIR}: run \`npm run lab -- up\` first`);
  return JSON.parse(readFileSync(ENDPOINTS_FILE, 'utf8')) as Endpoints;
}

/** Lab identity provider users: `admin` is a sovereign-admin, `viewer` only signs in. */
export const OIDC_USERS = {
  admin: { password: 'admin-lab-pass', groups: ['sovereign-admins'] },
  viewer: { password: 'viewer-lab-pass', groups: ['observers'] },
};
export const OIDC_CLIENT = { clientID: 'sovereign-cutover', clientSecret: 'lab-oidc-client-secret' };
/** The API ports the identity provider accepts redirects to (api … api+15, as 127.0.0.1 and localhost). */
export const API_PORTS = Array.from({ length: 16 }, (_, i) => BASE + 50 + i);

/** Repositories of the upstream Git under an org starting `private-` need this credential, as a private GitHub repo does. */
export const UPSTREAM_GIT_PRIVATE = {
  orgPrefix: 'private-',
  username: 'x-access-token',
  password: 'lab-upstream-git-token',
};

export const HARBOR_ADMIN = { username: 'admin', password: 'Harbor12345-lab' };
export const MOTHERSHIP_ADMIN = { username: 'admin', password: 'Mothership-lab-secret' };
