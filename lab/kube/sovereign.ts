// The tethered lab Sovereign: what its upstream GitOps repo holds (Flux sources on upstream Git and
// the ghcr stand-in, HelmReleases, workloads of every kind on upstream images, a tenant), what lab up
// applies to bootstrap it (namespaces, Secrets, the self-managing flux-system sync) — plus
// .lab/values.yaml, the cutover values for this Sovereign.
import type { KubernetesObject } from '@kubernetes/client-node';
import { stringify } from 'yaml';
import { CHART_ORG, CHARTS, NEXT_CHART, PROJECT_IMAGE } from '../corpus/spec.ts';
import { podSecurityLabels } from '../../src/core/pod-security.ts';
import { peersCaPem } from '../peers-pki.ts';
import { GITOPS, PORTS, type Endpoints } from '../topology.ts';

export const SOVEREIGN_NAMESPACES = ['flux-system', 'catalyst', 'catalyst-system', 'gitea', 'harbor'];
/** The chart the seeded OCIRepository pulls. */
const PLATFORM_CHART = CHARTS.find((c) => c.name === 'bp-catalyst-platform') ?? CHARTS[0]!;
export const GHCR_PULL = { username: 'openova-robot', password: 'ghcr-lab-token' };

export interface SovereignInput {
  e: Endpoints;
  gitea: { url: string; username: string; password: string };
}

const ns = (name: string): Record<string, unknown> => ({
  apiVersion: 'v1',
  kind: 'Namespace',
  metadata: { name, labels: { 'catalyst.openova.io/sovereign': 'sovereign.lab' } },
});

function container(name: string, image: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { name, image, ...extra };
}

function podTemplate(app: string, containers: unknown[], extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { metadata: { labels: { app } }, spec: { containers, ...extra } };
}

/** The cluster path of the lab Sovereign in the GitOps repository (`clusters/<sovereign>/`). */
export const CLUSTER_PATH = 'clusters/sovereign.lab';
export const TENANT = { namespace: 'tenant-a', serviceAccount: 'tenant-a-reconciler', path: 'tenants/tenant-a' };
/** The Kustomizations the lab's Git defines, `namespace/name`: the root applies the other two. */
export const KUSTOMIZATIONS = [
  'flux-system/flux-system',
  'flux-system/catalyst',
  `${TENANT.namespace}/${TENANT.namespace}`,
];

/**
 * What `flux bootstrap` leaves on a cluster, and what lab up applies: namespaces, the Secrets
 * (never in Git), the stand-in CRD, and the self-managing `flux-system` GitRepository and
 * Kustomization. Everything else arrives because Flux reconciles `clusters/sovereign.lab/`.
 */
export function bootstrapObjects({ e, gitea }: SovereignInput): KubernetesObject[] {
  const ghcr = e.upstreams.ghcr.host;
  const dockerconfig = JSON.stringify({
    auths: {
      [ghcr]: {
        username: GHCR_PULL.username,
        password: GHCR_PULL.password,
        auth: Buffer.from(`${GHCR_PULL.username}:${GHCR_PULL.password}`).toString('base64'),
      },
    },
  });
  const objects: Array<Record<string, unknown>> = [
    ...[...SOVEREIGN_NAMESPACES, TENANT.namespace].map(ns),
    // The node agent's namespace, as `cutover render` ships it: a local `cutover run` (no install) needs it.
    {
      apiVersion: 'v1',
      kind: 'Namespace',
      metadata: { name: 'catalyst-agent', labels: podSecurityLabels('privileged') },
    },
    // A stand-in for catalyst's Blueprint CRD (any spec): the dormant install ships a Blueprint document.
    {
      apiVersion: 'apiextensions.k8s.io/v1',
      kind: 'CustomResourceDefinition',
      metadata: { name: 'blueprints.catalyst.openova.io', labels: { 'lab.sovereign-cutover/stand-in': 'true' } },
      spec: {
        group: 'catalyst.openova.io',
        scope: 'Cluster',
        names: { plural: 'blueprints', singular: 'blueprint', kind: 'Blueprint' },
        versions: [
          {
            name: 'v1alpha1',
            served: true,
            storage: true,
            schema: { openAPIV3Schema: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true } },
          },
        ],
      },
    },
    {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: 'ghcr-pull', namespace: 'flux-system' },
      type: 'kubernetes.io/dockerconfigjson',
      stringData: { '.dockerconfigjson': dockerconfig },
    },
    {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: 'gitea-admin-secret', namespace: 'gitea' },
      type: 'Opaque',
      stringData: { username: gitea.username, password: gitea.password },
    },
    // What the cutover API needs in its install namespace: its OIDC client secret (the key that seals sessions it creates).
    {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: 'sovereign-cutover-oidc', namespace: 'catalyst' },
      type: 'Opaque',
      stringData: { clientSecret: e.oidc.clientSecret },
    },
    // The upstream Git is HTTPS on the private CA: Flux reads the CA from each GitRepository's secretRef.
    ...['flux-system', TENANT.namespace].map((namespace) => upstreamGitCaSecret(namespace)),
    {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: 'harbor-admin', namespace: 'harbor' },
      type: 'Opaque',
      stringData: { HARBOR_ADMIN_USERNAME: e.localHarbor.username, HARBOR_ADMIN_PASSWORD: e.localHarbor.password },
    },
    ...fluxSync(e),
  ];
  return objects as unknown as KubernetesObject[];
}

/** The Secret a GitRepository on the upstream Git names: the private CA as `ca.crt` (a GitRepository has no certSecretRef). */
export const UPSTREAM_GIT_CA_SECRET = 'upstream-git-ca';
export function upstreamGitCaSecret(namespace: string): Record<string, unknown> {
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name: UPSTREAM_GIT_CA_SECRET, namespace },
    type: 'Opaque',
    stringData: { 'ca.crt': peersCaPem() },
  };
}

/** `clusters/sovereign.lab/flux-system/gotk-sync.yaml`: the root source and Kustomization, managing themselves. */
function fluxSync(e: Endpoints): Array<Record<string, unknown>> {
  return [
    {
      apiVersion: 'source.toolkit.fluxcd.io/v1',
      kind: 'GitRepository',
      metadata: { name: GITOPS.repo, namespace: 'flux-system' },
      spec: {
        interval: '1m0s',
        url: e.git.repoURL,
        ref: { branch: GITOPS.branch },
        timeout: '60s',
        secretRef: { name: UPSTREAM_GIT_CA_SECRET },
      },
    },
    {
      apiVersion: 'kustomize.toolkit.fluxcd.io/v1',
      kind: 'Kustomization',
      metadata: { name: 'flux-system', namespace: 'flux-system' },
      spec: {
        interval: '10m0s',
        path: `./${CLUSTER_PATH}`,
        prune: true,
        sourceRef: { kind: 'GitRepository', name: GITOPS.repo },
      },
    },
  ];
}

const yamlDocs = (objects: Array<Record<string, unknown>>): string => objects.map((o) => stringify(o)).join('---\n');

/**
 * The files of the upstream GitOps repository that make the lab Sovereign, path → YAML: the cluster
 * path (sync, namespaces, OCI HelmRepositories and an OCIRepository, HelmReleases whose charts run
 * workloads on upstream images, the `catalyst` Kustomization that applies `products/catalyst`, the
 * remaining workloads) and a tenant with its own source, Kustomization (`serviceAccountName`,
 * `targetNamespace`), HelmRepository and HelmRelease.
 */
export function gitopsTree(e: Endpoints): Record<string, string> {
  const ghcr = e.upstreams.ghcr.host;
  const docker = e.upstreams.docker.host;
  const quay = e.upstreams.quay.host;
  const flux = (kind: string, name: string, spec: object, namespace = 'flux-system') => ({
    apiVersion: kind === 'Kustomization' ? 'kustomize.toolkit.fluxcd.io/v1' : 'source.toolkit.fluxcd.io/v1',
    kind,
    metadata: { name, namespace },
    spec,
  });
  const release = (name: string, chart: object, namespace?: string) => ({
    apiVersion: 'helm.toolkit.fluxcd.io/v2',
    kind: 'HelmRelease',
    metadata: { name, ...(namespace ? { namespace } : {}) },
    spec: { interval: '10m0s', ...chart },
  });
  const chartSpec = (c: { name: string; version: string }, repository = c.name) => ({
    chart: {
      spec: {
        chart: c.name,
        version: c.version,
        interval: '10m0s',
        sourceRef: { kind: 'HelmRepository', name: repository },
      },
    },
  });
  const sources = [
    ...CHARTS.map((chart) =>
      flux('HelmRepository', chart.name, {
        type: 'oci',
        interval: '10m0s',
        url: `oci://${ghcr}/${CHART_ORG}`,
        insecure: true,
        secretRef: { name: 'ghcr-pull' },
      }),
    ),
    // An OCIRepository on the ghcr stand-in: the platform chart by tag, used by its HelmRelease's chartRef.
    flux('OCIRepository', 'platform-chart', {
      interval: '10m0s',
      url: `oci://${ghcr}/${CHART_ORG}/${PLATFORM_CHART.name}`,
      ref: { tag: PLATFORM_CHART.version },
      insecure: true,
      secretRef: { name: 'ghcr-pull' },
      layerSelector: { mediaType: 'application/vnd.cncf.helm.chart.content.v1.tar+gzip', operation: 'copy' },
    }),
  ];
  const releases = CHARTS.filter((c) => c.name !== 'bp-self-sovereign-cutover').map((c) =>
    c === PLATFORM_CHART
      ? release(c.name, { chartRef: { kind: 'OCIRepository', name: 'platform-chart' } }, 'flux-system')
      : release(c.name, chartSpec(c), 'flux-system'),
  );
  const workloads = [
    {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'catalyst-ui', namespace: 'catalyst-system' },
      spec: {
        replicas: 1,
        selector: { matchLabels: { app: 'catalyst-ui' } },
        template: podTemplate('catalyst-ui', [container('ui', `${ghcr}/openova-io/catalyst-ui:1.0.0`)], {
          initContainers: [container('wait-for-api', `${docker}/library/alpine:3.20`)],
        }),
      },
    },
    {
      apiVersion: 'apps/v1',
      kind: 'StatefulSet',
      metadata: { name: 'postgres', namespace: 'catalyst' },
      spec: {
        serviceName: 'postgres',
        replicas: 1,
        selector: { matchLabels: { app: 'postgres' } },
        template: podTemplate('postgres', [container('postgres', `${docker}/library/postgres:16`)]),
      },
    },
    {
      apiVersion: 'apps/v1',
      kind: 'DaemonSet',
      metadata: { name: 'cilium-agent', namespace: 'kube-system' },
      spec: {
        selector: { matchLabels: { app: 'cilium-agent' } },
        template: podTemplate('cilium-agent', [container('agent', `${quay}/cilium/cilium:v1.16.5`)], {
          tolerations: [{ operator: 'Exists' }],
        }),
      },
    },
    {
      apiVersion: 'batch/v1',
      kind: 'CronJob',
      metadata: { name: 'redis-backup', namespace: 'catalyst' },
      spec: {
        schedule: '0 3 * * *',
        suspend: true,
        jobTemplate: {
          spec: {
            template: {
              spec: { restartPolicy: 'Never', containers: [container('backup', `${docker}/library/redis:7`)] },
            },
          },
        },
      },
    },
    {
      apiVersion: 'batch/v1',
      kind: 'Job',
      metadata: { name: 'schema-version', namespace: 'catalyst' },
      spec: {
        backoffLimit: 0,
        template: {
          spec: {
            restartPolicy: 'Never',
            containers: [
              container('version', `${ghcr}/${PROJECT_IMAGE.repo}:${PROJECT_IMAGE.tag}`, { args: ['--version'] }),
            ],
          },
        },
      },
    },
  ];
  const tenant = [
    {
      apiVersion: 'v1',
      kind: 'ServiceAccount',
      metadata: { name: TENANT.serviceAccount, namespace: TENANT.namespace },
    },
    {
      // Flux's multi-tenancy pattern: the tenant's reconciler is admin of its own namespace only.
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'RoleBinding',
      metadata: { name: TENANT.serviceAccount, namespace: TENANT.namespace },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'cluster-admin' },
      subjects: [{ kind: 'ServiceAccount', name: TENANT.serviceAccount, namespace: TENANT.namespace }],
    },
    flux(
      'GitRepository',
      TENANT.namespace,
      {
        interval: '1m0s',
        url: e.git.repoURL,
        ref: { branch: GITOPS.branch },
        timeout: '60s',
        secretRef: { name: UPSTREAM_GIT_CA_SECRET },
      },
      TENANT.namespace,
    ),
    flux(
      'Kustomization',
      TENANT.namespace,
      {
        interval: '10m0s',
        path: `./${TENANT.path}`,
        prune: true,
        targetNamespace: TENANT.namespace,
        serviceAccountName: TENANT.serviceAccount,
        sourceRef: { kind: 'GitRepository', name: TENANT.namespace },
      },
      TENANT.namespace,
    ),
  ];
  // The tenant's own objects carry no namespace: its Kustomization's targetNamespace sets it.
  const tenantApps = [
    {
      apiVersion: 'source.toolkit.fluxcd.io/v1',
      kind: 'HelmRepository',
      metadata: { name: 'tenant-charts' },
      spec: { type: 'oci', interval: '10m0s', url: `oci://${ghcr}/${CHART_ORG}`, insecure: true },
    },
    release('tenant-platform', chartSpec(PLATFORM_CHART, 'tenant-charts')),
  ];
  return {
    [`${CLUSTER_PATH}/flux-system/gotk-sync.yaml`]: yamlDocs(fluxSync(e)),
    [`${CLUSTER_PATH}/namespaces.yaml`]: yamlDocs([...SOVEREIGN_NAMESPACES, TENANT.namespace].map(ns)),
    [`${CLUSTER_PATH}/sources.yaml`]: yamlDocs(sources),
    [`${CLUSTER_PATH}/releases.yaml`]: yamlDocs(releases),
    [`${CLUSTER_PATH}/catalyst.yaml`]: yamlDocs([
      flux('Kustomization', 'catalyst', {
        interval: '10m0s',
        path: './products/catalyst',
        prune: true,
        sourceRef: { kind: 'GitRepository', name: GITOPS.repo },
      }),
    ]),
    [`${CLUSTER_PATH}/workloads.yaml`]: yamlDocs(workloads),
    [`${CLUSTER_PATH}/tenants/${TENANT.namespace}.yaml`]: yamlDocs(tenant),
    [`${TENANT.path}/sources.yaml`]: yamlDocs([tenantApps[0]!]),
    [`${TENANT.path}/releases.yaml`]: yamlDocs([tenantApps[1]!]),
  };
}

/** The cutover values for this Sovereign, in the seed chart's values schema. */
export function sovereignValues({ e, gitea }: SovereignInput): string {
  const values = {
    global: { imageRegistry: '' },
    sovereign: {
      fqdn: 'sovereign.lab',
      harborInternalURL: e.localHarbor.url,
      harborPublicURL: e.localHarbor.url,
      giteaInternalURL: gitea.url,
      giteaPublicURL: gitea.url,
    },
    upstream: {
      repoURL: e.git.repoURL,
      branch: GITOPS.branch,
      mirrorInterval: '10m0s',
      mothershipHarborURL: e.mothership.url,
    },
    gitea: {
      org: 'openova',
      repo: 'openova',
      adminSecretRef: {
        name: 'gitea-admin-secret',
        namespace: 'gitea',
        usernameKey: 'username',
        passwordKey: 'password',
      },
    },
    harbor: {
      adminSecretRef: {
        name: 'harbor-admin',
        namespace: 'harbor',
        usernameKey: 'HARBOR_ADMIN_USERNAME',
        passwordKey: 'HARBOR_ADMIN_PASSWORD',
      },
      ghcrSecretRef: { name: 'ghcr-pull', namespace: 'flux-system', dockerConfigKey: '.dockerconfigjson' },
      proxyProjects: [
        { name: 'proxy-ghcr', upstreamURL: e.upstreams.ghcr.url, registryType: 'github-ghcr', authMode: 'credential' },
        {
          name: 'proxy-docker',
          upstreamURL: e.upstreams.docker.url,
          registryType: 'docker-hub',
          authMode: 'anonymous',
        },
        {
          name: 'proxy-quay',
          upstreamURL: e.upstreams.quay.url,
          registryType: 'docker-registry',
          authMode: 'anonymous',
        },
      ],
    },
    prewarm: {
      images: [
        'proxy-docker/library/redis:7',
        'proxy-docker/library/postgres:16',
        'proxy-quay/cilium/cilium:v1.16.5',
        'proxy-quay/jetstack/cert-manager-controller:v1.16.1',
        'proxy-quay/kyverno/kyverno:v1.13.4',
        'proxy-docker/grafana/loki:3.3.2',
        'proxy-docker/grafana/grafana:11.4.0',
        'proxy-ghcr/fluxcd/source-controller:v1.4.1',
        'proxy-ghcr/fluxcd/helm-controller:v1.1.0',
        // A chart version Git does not name yet: a Day-2 bump in Git must install from the local Harbor.
        `proxy-ghcr/${CHART_ORG}/${NEXT_CHART.name}:${NEXT_CHART.version}`,
      ],
    },
    gitopsRepository: { name: GITOPS.repo, namespace: 'flux-system' },
    helmRepositories: {
      namespace: 'flux-system',
      upstreamPrefix: `oci://${e.upstreams.ghcr.host}/${CHART_ORG}`,
      names: CHARTS.map((c) => c.name),
    },
    flux: { namespaces: [TENANT.namespace] },
    catalystAPI: { deploymentName: 'catalyst-api', namespace: 'catalyst-system', envVar: 'CATALYST_GITOPS_REPO_URL' },
    // The install shares `catalyst` with postgres and jobs that run as root, as a real Sovereign does:
    // `restricted` would refuse their next pods, so the lab enforces baseline there (warnings stay restricted).
    podSecurity: { enforce: 'baseline' },
    // The local Harbor serves HTTPS with a certificate the Sovereign's private CA signed.
    tls: { caBundle: peersCaPem() },
    egressTest: {
      durationSeconds: 20,
      blockedDomains: [
        e.upstreams.ghcr.host,
        e.upstreams.docker.host,
        e.upstreams.quay.host,
        new URL(e.git.url).host,
        e.mothership.host,
      ],
      callHomeURLs: [
        `${e.upstreams.ghcr.url}/v2/`,
        `${e.upstreams.docker.url}/v2/`,
        `${e.upstreams.quay.url}/v2/`,
        e.git.repoURL,
        `${e.mothership.url}/api/v2.0/ping`,
      ],
    },
    status: { configMapName: 'self-sovereign-cutover-status' },
    stepTimeouts: {
      giteaMirrorSeconds: 1200,
      harborProjectsSeconds: 600,
      harborPrewarmSeconds: 1800,
      fluxGitRepositoryPatchSeconds: 600,
      helmRepositoryPatchesSeconds: 600,
      catalystAPIEnvPatchSeconds: 600,
      egressBlockTestSeconds: 900,
    },
    trigger: { auto: false },
    // The API pod listens on its own network; the lab kubelet forwards the host's 127.0.0.1 port to it.
    api: { port: PORTS.api, bindAddress: '0.0.0.0', replicas: 1, publicURL: `http://127.0.0.1:${PORTS.api}` },
    auth: { oidc: { issuerURL: e.oidc.issuer, clientID: e.oidc.clientID, adminGroup: 'sovereign-admins' } },
    images: { cutover: `${e.upstreams.ghcr.host}/${PROJECT_IMAGE.repo}:${PROJECT_IMAGE.tag}` },
  };
  return `# Cutover values for the lab's Sovereign (seed chart values schema), written by \`lab up\`.\n${stringify(values)}`;
}
