// `cutover render`: the dormant install as plain Kubernetes YAML — nothing runs until an operator
// (or the auto trigger) starts the cutover through the API. No Helm hooks: every object is
// declarative and re-applying the render is safe (the status ConfigMap carries no data, so an
// upgrade can never reset live status; the engine fills in missing keys).
import type { KubernetesObject, V1Container, V1ObjectMeta, V1PodSpec } from '@kubernetes/client-node';
import { stringify } from 'yaml';
import {
  AGENT,
  agentNamespace,
  API_NAME,
  API_SERVICE_ACCOUNT,
  CONTROLLER_NAME,
  HOLD_STEP,
  JOURNAL_COMPONENT,
  JOURNAL_STEP_LABEL,
  journalConfigMap,
  PART_OF,
  PART_OF_LABEL,
  RUNNER,
  STEP_IDS,
  STEP_LABELS,
  STEP_PHASES,
  TETHERS_COMPONENT,
  tethersConfigMap,
  VALUES_CONFIGMAP,
  type Phase,
} from '../core/contracts.ts';
import type { Values } from '../core/values.ts';
import { parseImageRef } from '../core/image-ref.ts';
import { podSecurityLabels, restrictedPod } from '../core/pod-security.ts';
import { agentObjects } from './agent.ts';
import { apiGrants, runnerGrants, type Grant } from './rbac.ts';

const VALUES_MOUNT = '/etc/cutover';
const PART_OF_LABELS = { [PART_OF_LABEL]: PART_OF };

export interface RenderOptions {
  namespace: string;
  /** The values file as the operator wrote it: shipped to every pod in a ConfigMap. */
  valuesText: string;
  version: string;
  /** Also the catalogue's `Blueprint` document: only where its CRD is served (a plain apply elsewhere would fail on it). */
  blueprint?: boolean;
  /** False: leave the install Namespace out (`--no-namespace`: Helm or Flux creates it). */
  namespaceObject?: boolean;
}

type Obj = KubernetesObject & Record<string, unknown>;
type Meta = (name: string, extra?: Record<string, string>) => V1ObjectMeta;

/** The project image for a phase: post-pivot steps pull from `global.imageRegistry` when it is set. */
export function imageFor(values: Values, phase: Phase): string {
  if (phase !== 'post' || !values.global.imageRegistry) return values.images.cutover;
  const ref = parseImageRef(values.images.cutover);
  return `${values.global.imageRegistry.replace(/\/+$/, '')}/${ref.path}${ref.digest ? `@${ref.digest}` : `:${ref.tag ?? 'latest'}`}`;
}

export function render(values: Values, options: RenderOptions): Obj[] {
  const { namespace } = options;
  const labels = {
    ...PART_OF_LABELS,
    'app.kubernetes.io/name': 'self-sovereign-cutover',
    'app.kubernetes.io/managed-by': 'sovereign-cutover',
    'app.kubernetes.io/version': options.version,
    'catalyst.openova.io/blueprint': 'bp-self-sovereign-cutover',
    'catalyst.openova.io/sovereign-fqdn': values.sovereign.fqdn,
  };
  const meta: Meta = (name, extra = {}) => ({ name, namespace, labels: { ...labels, ...extra } });
  const objects: Obj[] = [
    // Pod Security: the install's pods are `restricted`; only the node agent's namespace is not.
    ...(options.namespaceObject === false
      ? []
      : [
          {
            apiVersion: 'v1',
            kind: 'Namespace',
            metadata: {
              name: namespace,
              labels: { ...labels, ...podSecurityLabels(values.podSecurity.enforce, 'restricted') },
            },
          },
        ]),
    {
      apiVersion: 'v1',
      kind: 'Namespace',
      metadata: { name: agentNamespace(values, namespace), labels: { ...labels, ...podSecurityLabels('privileged') } },
    },
    // Two identities (ADR 0021): the runner (the controller, every step Job) and the API, which runs nothing.
    { apiVersion: 'v1', kind: 'ServiceAccount', metadata: meta(RUNNER) },
    { apiVersion: 'v1', kind: 'ServiceAccount', metadata: meta(API_SERVICE_ACCOUNT) },
    {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: meta(VALUES_CONFIGMAP, { 'app.kubernetes.io/component': 'cutover-values' }),
      data: { 'values.yaml': options.valuesText },
    },
    ...rbacObjects(runnerGrants(values, namespace), namespace, labels),
    ...rbacObjects(apiGrants(values, namespace), namespace, labels, API_SERVICE_ACCOUNT),
    ...STEP_IDS.map((step, i) => stepConfigMap(values, step, i + 1, meta)),
    {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: {
        ...meta(values.status.configMapName, { 'app.kubernetes.io/component': 'cutover-status' }),
        // No data here on purpose: re-applying the install must never reset live status. The engine
        // creates every key it lacks. Flux: create once, never re-assert.
        annotations: { 'helm.sh/resource-policy': 'keep', 'kustomize.toolkit.fluxcd.io/ssa': 'IfNotPresent' },
      },
    },
    // The tether inventory the controller writes for the API: shipped empty, like the status.
    {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: {
        ...meta(tethersConfigMap(values.status.configMapName), { 'app.kubernetes.io/component': TETHERS_COMPONENT }),
        annotations: { 'helm.sh/resource-policy': 'keep', 'kustomize.toolkit.fluxcd.io/ssa': 'IfNotPresent' },
      },
    },
    // The journal (core/journal.ts): one ConfigMap per step, and the pin intake's. Shipped empty and
    // created once, like the status, so the runner never needs to create a ConfigMap.
    ...[...STEP_IDS, HOLD_STEP].map((step) => ({
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: {
        ...meta(journalConfigMap(values.status.configMapName, step), {
          'app.kubernetes.io/component': JOURNAL_COMPONENT,
          [JOURNAL_STEP_LABEL]: step,
        }),
        annotations: { 'helm.sh/resource-policy': 'keep', 'kustomize.toolkit.fluxcd.io/ssa': 'IfNotPresent' },
      },
    })),
    ...(agentObjects(values, namespace) as Obj[]).map((o) => ({
      ...o,
      metadata: { ...o.metadata, labels: { ...labels, ...o.metadata?.labels } },
    })),
    apiDeployment(values, meta),
    controllerDeployment(values, meta),
    {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: meta(API_NAME, { 'app.kubernetes.io/component': 'cutover-api' }),
      spec: {
        selector: { ...PART_OF_LABELS, 'app.kubernetes.io/component': 'cutover-api' },
        ports: [{ name: 'http', port: 8080, targetPort: 'http' }],
      },
    },
    ...(options.blueprint ? [blueprint(options.version)] : []),
  ];
  return objects;
}

export function renderYaml(values: Values, options: RenderOptions): string {
  return render(values, options)
    .map((o) => `---\n${stringify(o, { lineWidth: 0 })}`)
    .join('');
}

function stepPodSpec(values: Values, step: string, phase: Phase): V1PodSpec {
  return restrictedPod({
    serviceAccountName: RUNNER,
    restartPolicy: 'Never',
    containers: [
      {
        name: 'step',
        image: imageFor(values, phase),
        args: ['step', step, '-f', `${VALUES_MOUNT}/values.yaml`],
        // The engine records the step's own error from the terminated container.
        terminationMessagePolicy: 'FallbackToLogsOnError',
        env: [{ name: 'POD_NAMESPACE', valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } } }],
        resources: { requests: { cpu: '50m', memory: '96Mi' }, limits: { memory: '512Mi' } },
        volumeMounts: [{ name: 'values', mountPath: VALUES_MOUNT, readOnly: true }],
      },
    ],
    volumes: [{ name: 'values', configMap: { name: VALUES_CONFIGMAP } }],
  });
}

function stepConfigMap(values: Values, step: (typeof STEP_IDS)[number], order: number, meta: Meta): Obj {
  const phase = STEP_PHASES[step];
  const daemonSet = phase === 'pivot';
  const name = `cutover-step-${String(order).padStart(2, '0')}-${step}`;
  return {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: meta(name, {
      'app.kubernetes.io/component': 'cutover-step',
      [STEP_LABELS.order]: String(order),
      [STEP_LABELS.mode]: daemonSet ? 'daemonset-wait' : 'job',
      ...(daemonSet ? { [STEP_LABELS.daemonSet]: AGENT.daemonSet } : {}),
    }),
    data: daemonSet
      ? { stepName: step }
      : { stepName: step, podSpec: stringify(stepPodSpec(values, step, phase), { lineWidth: 0 }) },
  };
}

/** ClusterRole for cluster-wide grants, one Role per namespace for the rest; each bound to `identity` (a ServiceAccount of the install). */
export function rbacObjects(
  grants: Grant[],
  namespace: string,
  labels: Record<string, string>,
  identity: string = RUNNER,
): Obj[] {
  const subjects = [{ kind: 'ServiceAccount', name: identity, namespace }];
  const rule = (g: Grant) => ({
    apiGroups: [g.apiGroup],
    resources: [g.resource],
    verbs: g.verbs,
    ...(g.resourceNames ? { resourceNames: g.resourceNames } : {}),
  });
  const cluster = grants.filter((g) => g.namespace === undefined);
  const namespaces = [...new Set(grants.map((g) => g.namespace).filter((n): n is string => n !== undefined))];
  const rbac = 'rbac.authorization.k8s.io/v1';
  return [
    { apiVersion: rbac, kind: 'ClusterRole', metadata: { name: identity, labels }, rules: cluster.map(rule) },
    {
      apiVersion: rbac,
      kind: 'ClusterRoleBinding',
      metadata: { name: identity, labels },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: identity },
      subjects,
    },
    ...namespaces.flatMap((ns): Obj[] => [
      {
        apiVersion: rbac,
        kind: 'Role',
        metadata: { name: identity, namespace: ns, labels },
        rules: grants.filter((g) => g.namespace === ns).map(rule),
      },
      {
        apiVersion: rbac,
        kind: 'RoleBinding',
        metadata: { name: identity, namespace: ns, labels },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: identity },
        subjects,
      },
    ]),
  ];
}

/** What both Deployments' containers share: the values, the pod's own name and namespace, Pod Security `restricted`. */
function servePodSpec(values: Values, role: 'api' | 'controller', container: Partial<V1Container>): V1PodSpec {
  return restrictedPod({
    serviceAccountName: role === 'api' ? API_SERVICE_ACCOUNT : RUNNER,
    containers: [
      {
        name: role,
        // The controller carries the engine through the pivot: both start from upstream.
        image: values.images.cutover,
        args: ['serve', '--role', role, '-f', `${VALUES_MOUNT}/values.yaml`],
        terminationMessagePolicy: 'FallbackToLogsOnError',
        volumeMounts: [{ name: 'values', mountPath: VALUES_MOUNT, readOnly: true }],
        ...container,
        env: [
          { name: 'POD_NAMESPACE', valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } } },
          { name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
          ...(container.env ?? []),
        ],
      },
    ],
    volumes: [{ name: 'values', configMap: { name: VALUES_CONFIGMAP } }],
  });
}

/** The API and console (ADR 0021): its own ServiceAccount; it writes requests and runs nothing. */
function apiDeployment(values: Values, meta: Meta): Obj {
  const podLabels = { ...PART_OF_LABELS, 'app.kubernetes.io/component': 'cutover-api' };
  const secretEnv = (name: string, ref: { name: string; namespace: string; key: string }) => ({
    name,
    valueFrom: { secretKeyRef: { name: ref.name, key: ref.key, optional: true } },
  });
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: meta(API_NAME, { 'app.kubernetes.io/component': 'cutover-api' }),
    spec: {
      replicas: values.api.replicas,
      selector: { matchLabels: podLabels },
      template: {
        metadata: { labels: podLabels },
        spec: servePodSpec(values, 'api', {
          ports: [{ name: 'http', containerPort: values.api.port }],
          env: [
            secretEnv('CUTOVER_OIDC_CLIENT_SECRET', values.auth.oidc.clientSecretRef),
            secretEnv('CUTOVER_SESSION_KEY', values.auth.sessionKeySecretRef),
          ],
          readinessProbe: { httpGet: { path: '/healthz', port: 'http' }, periodSeconds: 5 },
          resources: { requests: { cpu: '20m', memory: '96Mi' }, limits: { memory: '256Mi' } },
        }),
      },
    },
  };
}

/** The controller (ADR 0021): the runner; takes the API's requests, runs the engine, guard and intake. No port. */
function controllerDeployment(values: Values, meta: Meta): Obj {
  const podLabels = { ...PART_OF_LABELS, 'app.kubernetes.io/component': 'cutover-controller' };
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: meta(CONTROLLER_NAME, { 'app.kubernetes.io/component': 'cutover-controller' }),
    spec: {
      // One is enough (a restarted one resumes from the status); more are safe (the Lease).
      replicas: 1,
      selector: { matchLabels: podLabels },
      // Never two generations of the engine at once during an upgrade.
      strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: 0, maxUnavailable: 1 } },
      template: {
        metadata: { labels: podLabels },
        spec: servePodSpec(values, 'controller', {
          resources: { requests: { cpu: '50m', memory: '128Mi' }, limits: { memory: '512Mi' } },
        }),
      },
    },
  };
}

/** The catalyst catalogue entry, as the original ships it. */
/** The catalogue's Blueprint document: only where its CRD is served. */
export function blueprint(version: string): Obj {
  return {
    apiVersion: 'catalyst.openova.io/v1alpha1',
    kind: 'Blueprint',
    metadata: {
      name: 'bp-self-sovereign-cutover',
      labels: { 'catalyst.openova.io/section': 'pts-2-3-per-sovereign-supporting-services' },
    },
    spec: {
      version,
      card: {
        title: 'self-sovereignty-cutover',
        summary:
          "Post-handover Self-Sovereignty Cutover. Installs DORMANT once bp-gitea and bp-harbor are Ready; the operator (or the opt-in auto trigger) starts it, and it pivots every upstream reference to the Sovereign's own Gitea and Harbor, proven with upstream egress blocked.",
      },
      visibility: 'unlisted',
      manifests: { render: 'cutover render -f values.yaml' },
      depends: ['bp-gitea', 'bp-harbor'],
    },
  };
}
