// The cutover's values: the seed chart's keys, validated by one schema. Unknown keys and wrong
// types are errors that name the key; nothing touches a cluster before values parse.
import { adoptOriginalValues } from './original-values.ts';
import { VERSION } from './version.ts';
import { Ajv, type ErrorObject } from 'ajv';
import { parse as parseYaml } from 'yaml';
import { CutoverError } from './errors.ts';

export type HostMode = 'mirror' | 'proxy';

export interface SecretRef {
  name: string;
  namespace: string;
}

/** A CA bundle kept in a Secret (namespace '' = the install's); `key` holds PEM. */
export type CaSecretRef = SecretRef & { key: string };

export interface ProxyProject {
  name: string;
  upstreamURL: string;
  registryType: string;
  authMode: 'credential' | 'anonymous';
}

/** One row of the host → local project table shared by prewarm, node pivot and inventory. */
export interface HostProject {
  /** The registry host as image references name it (`ghcr.io`, `docker.io`, `127.0.0.1:15001`). */
  host: string;
  project: string;
  mode: HostMode;
  upstreamURL: string;
  registryType: string;
  authMode: 'credential' | 'anonymous';
}

export interface Values {
  global: { imageRegistry: string };
  sovereign: {
    fqdn: string;
    harborInternalURL: string;
    harborPublicURL: string;
    giteaInternalURL: string;
    giteaPublicURL: string;
  };
  upstream: {
    repoURL: string;
    branch: string;
    mirrorInterval: string;
    mothershipHarborURL: string;
    /** A private upstream: the Secret with the credential Gitea mirrors with (`name: ''`: a public one). */
    credentialsSecretRef: SecretRef & { usernameKey: string; passwordKey: string };
  };
  gitea: {
    org: string;
    repo: string;
    adminSecretRef: SecretRef & { usernameKey: string; passwordKey: string };
    /** The Gitea user whose read-only token Flux gets (created by step 05; never the admin). */
    fluxReader: string;
  };
  harbor: {
    adminSecretRef: SecretRef & { usernameKey: string; passwordKey: string };
    ghcrSecretRef: SecretRef & { dockerConfigKey: string };
    mothershipAuthsToStrip: string[];
    /** The robot account whose pull-only credentials the pull Secrets get (Harbor names it `robot$<this>`); never the admin. */
    pullRobot: string;
    proxyProjects: ProxyProject[];
    /** Mode for hosts of `proxyProjects` that `hostProjects` does not list. */
    defaultMode: HostMode;
    hostProjects: HostProject[];
  };
  prewarm: { images: string[] };
  gitopsRepository: { name: string; namespace: string };
  helmRepositories: { namespace: string; upstreamPrefix: string; names: string[] };
  /** Namespaces besides the two above whose Flux sources (and the Kustomizations that own them) may be pivoted. */
  flux: { namespaces: string[] };
  catalystAPI: { deploymentName: string; namespace: string; envVar: string };
  egressTest: {
    durationSeconds: number;
    blockedDomains: string[];
    callHomeURLs: string[];
    allowCIDRs: string[];
    apiserverCIDRs: string[];
  };
  status: { configMapName: string };
  stepTimeouts: Record<StepTimeoutKey, number>;
  trigger: { auto: boolean; autoDelaySeconds: number; internalServiceAccounts: string[] };
  /** `cutover serve` re-verifies a complete cutover this often and repairs what drifted (0: never). */
  guard: { periodSeconds: number; mirrorCheckSeconds: number; mirrorMaxAgeSeconds: number };
  intake: { mode: 'auto' | 'request' | 'off'; periodSeconds: number; retrySeconds: number; windowSeconds: number };
  images: { cutover: string };
  api: { port: number; bindAddress: string; replicas: number; publicURL: string };
  auth: {
    oidc: {
      issuerURL: string;
      clientID: string;
      clientSecretRef: SecretRef & { key: string };
      adminGroup: string;
      groupsClaim: string;
    };
    /** Operators sign in to the console (needs `oidc.issuerURL`); false: the internal trigger only. */
    signIn: boolean;
    /** Besides sovereign-admins, the groups that may read the full tether inventory. */
    inventoryGroups: string[];
    sessionKeySecretRef: SecretRef & { key: string };
  };
  registryPivot: { certsDir: string; k3sConfigDir: string; agentNamespace: string };
  podSecurity: { enforce: 'restricted' | 'baseline' | 'privileged' };
  tls: {
    caBundle: string;
    caBundleSecretRef?: CaSecretRef;
    hosts: Array<{ host: string; caBundle: string; caBundleSecretRef?: CaSecretRef; insecureSkipVerify: boolean }>;
  };
  tethers: { exempt: TetherExemption[] };
}

/** Where the tether inventory finds references to upstream hosts (a row's `kind`). */
export const TETHER_KINDS = [
  'image',
  'env',
  'configmap',
  'git-repository',
  'helm-repository',
  'oci-repository',
  'bucket',
  'helm-chart',
  'helm-release',
  'crossplane-package',
  'pull-secret',
  'node-registry',
] as const;
export type TetherKind = (typeof TETHER_KINDS)[number];

/** A tether the operator keeps on purpose: every field given must match (`*` is a wildcard); the reason is shown. */
export interface TetherExemption {
  kind?: TetherKind;
  object?: string;
  upstream?: string;
  reason: string;
}

export const STEP_TIMEOUT_KEYS = [
  'giteaMirrorSeconds',
  'harborProjectsSeconds',
  'harborPrewarmSeconds',
  'registryPivotSeconds',
  'fluxGitRepositoryPatchSeconds',
  'helmRepositoryPatchesSeconds',
  'catalystAPIEnvPatchSeconds',
  'egressBlockTestSeconds',
] as const;
export type StepTimeoutKey = (typeof STEP_TIMEOUT_KEYS)[number];

/** An absolute host directory whose last segment is `last`, without `.` or `..` segments. */
const HOST_DIR = (last: string) => `^(?:/(?!\\.\\.?(?:/|$))[A-Za-z0-9._-]+)*/${last}$`;
const str = (def?: string) => ({ type: 'string', ...(def === undefined ? {} : { default: def }) });
const obj = (properties: Record<string, unknown>, required: string[] = []) => ({
  type: 'object',
  additionalProperties: false,
  default: {},
  properties,
  required,
});
/** Optional (no default): present only when the CA lives in a Secret. */
const caSecretRef = {
  type: 'object',
  additionalProperties: false,
  properties: { name: { type: 'string', minLength: 1 }, namespace: str(''), key: str('ca.crt') },
  required: ['name'],
};
const url = { type: 'string', pattern: '^[a-z][a-z0-9+.-]*://[^\\s/]+' };
const optionalUrl = { type: 'string', pattern: `^$|${url.pattern}`, default: '' };
const secretRef = (name: string, namespace: string, keys: Record<string, string>) =>
  obj({
    name: str(name),
    namespace: str(namespace),
    ...Object.fromEntries(Object.entries(keys).map(([k, d]) => [k, str(d)])),
  });
const authMode = { enum: ['credential', 'anonymous'], default: 'anonymous' };

export const VALUES_SCHEMA = obj(
  {
    global: obj({ imageRegistry: str('') }),
    sovereign: obj(
      {
        fqdn: str('example.local'),
        harborInternalURL: url,
        harborPublicURL: url,
        giteaInternalURL: url,
        giteaPublicURL: optionalUrl,
      },
      ['harborInternalURL', 'harborPublicURL', 'giteaInternalURL'],
    ),
    upstream: obj(
      {
        repoURL: url,
        branch: str('main'),
        mirrorInterval: { type: 'string', pattern: '^(\\d+h)?(\\d+m)?(\\d+s)?$', minLength: 2, default: '10m0s' },
        mothershipHarborURL: optionalUrl,
        // A private upstream (GitHub: any username and a token with read access as the password): Gitea
        // mirrors with it and keeps it for its syncs; empty name: the upstream is public.
        credentialsSecretRef: secretRef('', '', { usernameKey: 'username', passwordKey: 'password' }),
      },
      ['repoURL'],
    ),
    gitea: obj({
      org: str('openova'),
      repo: str('openova'),
      adminSecretRef: secretRef('gitea-admin-secret', 'gitea', { usernameKey: 'username', passwordKey: 'password' }),
      // Flux reads the mirror as this user (a read-only collaborator of the one repository, a token scoped
      // read:repository, rotated on every run); the admin credentials never leave the runner.
      fluxReader: { type: 'string', pattern: '^[A-Za-z0-9_.-]+$', default: 'sovereign-cutover-flux' },
    }),
    harbor: obj({
      adminSecretRef: secretRef('harbor-admin', 'harbor', {
        usernameKey: 'HARBOR_ADMIN_USERNAME',
        passwordKey: 'HARBOR_ADMIN_PASSWORD',
      }),
      ghcrSecretRef: secretRef('ghcr-pull', 'flux-system', { dockerConfigKey: '.dockerconfigjson' }),
      // Registry hosts whose entries 08 takes out of the pull Secret after the pull proof, besides every upstream host.
      mothershipAuthsToStrip: { type: 'array', items: { type: 'string', minLength: 1 }, default: [] },
      // Step 06 gives the pull Secrets this robot's credentials: pull only, the cutover's projects only, a new secret every run.
      pullRobot: { type: 'string', pattern: '^[a-z0-9]+(?:[._-][a-z0-9]+)*$', default: 'sovereign-cutover-pull' },
      proxyProjects: {
        type: 'array',
        default: [],
        items: obj(
          {
            name: { type: 'string', pattern: '^[a-z0-9]+(?:[._-][a-z0-9]+)*$' },
            upstreamURL: url,
            registryType: str('docker-registry'),
            authMode,
          },
          ['name', 'upstreamURL'],
        ),
      },
      defaultMode: { enum: ['mirror', 'proxy'], default: 'mirror' },
      hostProjects: {
        type: 'array',
        default: [],
        items: obj(
          {
            host: { type: 'string', minLength: 1 },
            project: { type: 'string', pattern: '^[a-z0-9]+(?:[._-][a-z0-9]+)*$' },
            mode: { enum: ['mirror', 'proxy'], default: 'mirror' },
            upstreamURL: url,
            registryType: str('docker-registry'),
            authMode,
          },
          ['host', 'project', 'upstreamURL'],
        ),
      },
    }),
    prewarm: obj({ images: { type: 'array', items: { type: 'string', minLength: 1 }, default: [] } }),
    gitopsRepository: obj({ name: str('openova'), namespace: str('flux-system') }),
    helmRepositories: obj({
      namespace: str('flux-system'),
      upstreamPrefix: { type: 'string', pattern: '^oci://', default: 'oci://ghcr.io/openova-io' },
      names: { type: 'array', items: { type: 'string' }, default: [] },
    }),
    flux: obj({ namespaces: { type: 'array', items: { type: 'string', minLength: 1 }, default: [] } }),
    catalystAPI: obj({
      deploymentName: str('catalyst-api'),
      namespace: str('catalyst-system'),
      envVar: str('CATALYST_GITOPS_REPO_URL'),
    }),
    egressTest: obj({
      durationSeconds: { type: 'integer', minimum: 0, default: 600 },
      blockedDomains: { type: 'array', items: { type: 'string' }, default: [] },
      // Probed from a pod under the hold; every one must be unreachable. Default: https://<each blocked domain>/.
      callHomeURLs: { type: 'array', items: url, default: [] },
      // Where pods may still go under the hold (cluster pod/service networks, the local Harbor and Gitea).
      allowCIDRs: {
        type: 'array',
        items: { type: 'string' },
        default: ['10.42.0.0/16', '10.43.0.0/16', '10.96.0.0/12'],
      },
      // Where pods reach the apiserver, when it is not what the kubernetes Service and its
      // EndpointSlices say (a managed control plane behind a proxy). Default: those, read at hold time.
      apiserverCIDRs: { type: 'array', items: { type: 'string' }, default: [] },
    }),
    status: obj({ configMapName: str('self-sovereign-cutover-status') }),
    stepTimeouts: obj(
      Object.fromEntries(
        STEP_TIMEOUT_KEYS.map((k) => [
          k,
          {
            type: 'integer',
            minimum: 30,
            default:
              { giteaMirrorSeconds: 1200, harborPrewarmSeconds: 1800, egressBlockTestSeconds: 900 }[k as string] ?? 600,
          },
        ]),
      ),
    ),
    trigger: obj({
      auto: { type: 'boolean', default: false },
      autoDelaySeconds: { type: 'integer', minimum: 0, default: 30 },
      // ServiceAccount usernames allowed to POST the internal trigger; empty = the runner's.
      internalServiceAccounts: {
        type: 'array',
        items: { type: 'string', pattern: '^system:serviceaccount:[^:]+:[^:]+$' },
        default: [],
      },
    }),
    guard: obj({
      periodSeconds: { type: 'integer', minimum: 0, default: 15 },
      // After the cutover: how often the Git mirror's head is compared with upstream's (0 = never), and
      // how long it may go without being seen on upstream's head before the Sovereign reports itself degraded.
      mirrorCheckSeconds: { type: 'integer', minimum: 0, default: 60 },
      mirrorMaxAgeSeconds: { type: 'integer', minimum: 1, default: 3600 },
    }),
    // After the cutover, when the mirror's head moves: `auto` reads what it pins, copies what the local
    // Harbor lacks while upstream answers and lets Flux onto it once every pin is local (ADR 0017);
    // `request` copies and lets on nothing until an operator approves the revision (ADR 0018); `off`
    // turns the radar off.
    intake: obj({
      mode: { enum: ['auto', 'request', 'off'], default: 'auto' },
      // How often the whole cluster is swept for pins (a new revision is read at once, and a Pod watch
      // brings a new image's look forward, so the sweep only catches what a watch cannot see).
      periodSeconds: { type: 'integer', minimum: 5, default: 300 },
      // How often pins that could not be made local are tried again (without re-listing the cluster).
      retrySeconds: { type: 'integer', minimum: 5, default: 30 },
      // `request`: how long an approval's delivery window stays open for copies before it expires.
      windowSeconds: { type: 'integer', minimum: 30, default: 900 },
    }),
    // `cutover serve`: where it listens (in-cluster: every address; the lab: 127.0.0.1), how many replicas.
    api: obj({
      port: { type: 'integer', minimum: 1, maximum: 65535, default: 8080 },
      bindAddress: str('0.0.0.0'),
      replicas: { type: 'integer', minimum: 1, default: 2 },
      publicURL: optionalUrl,
    }),
    // Operators sign in with the Sovereign's identity provider; members of adminGroup may start the cutover.
    auth: obj({
      oidc: obj({
        issuerURL: optionalUrl,
        clientID: str('sovereign-cutover'),
        clientSecretRef: secretRef('sovereign-cutover-oidc', '', { key: 'clientSecret' }),
        adminGroup: str('sovereign-admins'),
        groupsClaim: str('groups'),
      }),
      // With sign-in on, `serve` refuses to start without an issuer (false: no console sign-in, the internal trigger only).
      // Default: on when auth.oidc.issuerURL is set (parseValues).
      signIn: { type: 'boolean' },
      // Who besides sovereign-admins may read the full tether inventory (GET …/tethers): it lists every workload's images.
      inventoryGroups: { type: 'array', items: { type: 'string', minLength: 1 }, default: [] },
      // Seals session cookies; shared by every replica. Absent, the first replica to start creates it (a random key).
      sessionKeySecretRef: secretRef('sovereign-cutover-session', '', { key: 'key' }),
    }),
    // The image of this very program: its tag is the package version.
    images: obj({ cutover: str(`ghcr.io/openova-io/sovereign-cutover:${VERSION}`) }),
    // Where the node agent writes: containerd's certs.d (k3s: /var/lib/rancher/k3s/agent/etc/containerd/certs.d) and k3s' config dir.
    registryPivot: obj({
      // The agent's only host paths (it runs privileged): a containerd certs.d and a k3s/RKE2 config directory, nothing wider.
      certsDir: { ...str('/etc/containerd/certs.d'), pattern: HOST_DIR('certs\\.d') },
      k3sConfigDir: { ...str('/etc/rancher/k3s'), pattern: HOST_DIR('(?:k3s|rke2)') },
      // The node agent's namespace, labelled Pod Security `privileged` (it writes host paths); empty: `<install namespace>-agent`.
      agentNamespace: str(''),
    }),
    // The Pod Security level enforced on the install namespace (warn and audit are always `restricted`,
    // which every pod of the install meets). Lower it only when the namespace is shared with workloads
    // that do not meet it: the label applies to their new pods too.
    podSecurity: obj({ enforce: { enum: ['restricted', 'baseline', 'privileged'], default: 'restricted' } }),
    // Private CAs: `caBundle` (PEM) is trusted for every host besides the system's CAs; a `hosts` row
    // (`host:port` as in URLs) adds a CA for that host only, or skips its verification (logged loudly).
    // Either CA may instead (or as well) come from a Secret: `caBundleSecretRef`, read when a command
    // starts. Nodes get the Harbor host's CAs in hosts.toml, pivoted Flux sources in a certSecretRef.
    tls: obj({
      caBundle: str(''),
      caBundleSecretRef: caSecretRef,
      hosts: {
        type: 'array',
        default: [],
        items: obj(
          {
            host: { type: 'string', minLength: 1 },
            caBundle: str(''),
            caBundleSecretRef: caSecretRef,
            insecureSkipVerify: { type: 'boolean', default: false },
          },
          ['host'],
        ),
      },
    }),
    // The tether inventory's explicit exemptions (`cutover tethers`): what may stay pointed upstream, and why.
    tethers: obj({
      exempt: {
        type: 'array',
        default: [],
        items: obj(
          {
            kind: { type: 'string', enum: [...TETHER_KINDS] },
            object: { type: 'string' },
            upstream: { type: 'string' },
            reason: { type: 'string', minLength: 1 },
          },
          ['reason'],
        ),
      },
    }),
  },
  ['sovereign', 'upstream'],
);

const ajv = new Ajv({ allErrors: true, useDefaults: true, strict: false });
const validate = ajv.compile(VALUES_SCHEMA);

/** `/harbor/proxyProjects/0/authMode` → `harbor.proxyProjects[0].authMode` */
function keyOf(error: ErrorObject): string {
  const parts = error.instancePath
    .split('/')
    .filter(Boolean)
    .map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'));
  if (error.keyword === 'additionalProperties') parts.push(String(error.params.additionalProperty));
  if (error.keyword === 'required') parts.push(String(error.params.missingProperty));
  return (
    parts.reduce((key, part) => (/^\d+$/.test(part) ? `${key}[${part}]` : key ? `${key}.${part}` : part), '') ||
    '(root)'
  );
}

function describe(error: ErrorObject): string {
  if (error.keyword === 'additionalProperties') return 'is not a known key';
  if (error.keyword === 'required') return 'is required';
  if (error.keyword === 'enum') return `must be one of ${(error.params.allowedValues as unknown[]).join(', ')}`;
  if (error.keyword === 'pattern' && String(error.params.pattern).endsWith(url.pattern))
    return 'must be a URL (scheme://host…)';
  return error.message ?? 'is invalid';
}

/** Parses and validates values YAML; throws CutoverError('invalid-values') listing every bad key. */
export function parseValues(text: string, source = 'values'): Values {
  return parseValuesWithWarnings(text, source).values;
}

/**
 * parseValues, and what the operator should hear about the file: keys of the original chart that mean
 * nothing here (taken out, never rejected; see original-values.ts).
 */
export function parseValuesWithWarnings(text: string, source = 'values'): { values: Values; warnings: string[] } {
  let raw: unknown;
  try {
    raw = parseYaml(text) ?? {};
  } catch (error) {
    throw new CutoverError(
      'invalid-values',
      `${source}: not valid YAML: ${error instanceof Error ? error.message : String(error)}`,
    );
  }
  const warnings = adoptOriginalValues(raw, source);
  if (!validate(raw)) {
    const problems = [...new Set((validate.errors ?? []).map((e) => `${keyOf(e)} ${describe(e)}`))];
    throw new CutoverError('invalid-values', `${source} is invalid:\n  ${problems.join('\n  ')}`);
  }
  const values = raw as unknown as Values;
  values.harbor.hostProjects = hostTable(values);
  // Sign-in is on where there is an identity provider to sign in with (the original had none).
  values.auth.signIn ??= Boolean(values.auth.oidc.issuerURL);
  // The original's default, an empty list, would leave the proof nothing to prove blocked: every upstream host is.
  if (!values.egressTest.blockedDomains.length) values.egressTest.blockedDomains = derivedBlockedDomains(values);
  if (!values.egressTest.callHomeURLs.length)
    values.egressTest.callHomeURLs = values.egressTest.blockedDomains.map((d) => `https://${d}/`);
  const hosts = values.harbor.hostProjects.map((h) => h.host);
  const duplicate = hosts.find((h, i) => hosts.indexOf(h) !== i);
  if (duplicate)
    throw new CutoverError(
      'invalid-values',
      `${source} is invalid:\n  harbor.hostProjects maps host ${duplicate} twice`,
    );
  return { values, warnings };
}

/** Every upstream host the values name: the host table's, the upstream Git's, the mothership Harbor's. */
function derivedBlockedDomains(values: Values): string[] {
  const host = (url: string) => (url ? new URL(url).hostname : '');
  return [
    ...new Set(
      [
        ...values.harbor.hostProjects.map((row) => row.host.replace(/:\d+$/, '')),
        host(values.upstream.repoURL),
        host(values.upstream.mothershipHarborURL),
      ].filter(Boolean),
    ),
  ];
}

/** Every namespace whose Flux objects the cutover pivots (the RBAC grants patch there, nowhere else). */
export function fluxNamespaces(values: Values): string[] {
  return [
    ...new Set([values.gitopsRepository.namespace, values.helmRepositories.namespace, ...values.flux.namespaces]),
  ];
}

/** Docker Hub's registry endpoint names images `docker.io/…`. */
export function imageHostOf(upstreamURL: string): string {
  const host = new URL(upstreamURL).host;
  return host === 'registry-1.docker.io' || host === 'index.docker.io' || host === 'hub.docker.com'
    ? 'docker.io'
    : host;
}

/** The host table: explicit `harbor.hostProjects` rows, then one row per seed `proxyProjects` entry. */
function hostTable(values: Values): HostProject[] {
  const rows = [...values.harbor.hostProjects];
  for (const p of values.harbor.proxyProjects) {
    const host = imageHostOf(p.upstreamURL);
    if (rows.some((r) => r.host === host)) continue;
    rows.push({
      host,
      project: p.name,
      mode: values.harbor.defaultMode,
      upstreamURL: p.upstreamURL,
      registryType: p.registryType,
      authMode: p.authMode,
    });
  }
  return rows;
}
