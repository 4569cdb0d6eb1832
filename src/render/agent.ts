// The node agent's objects (ServiceAccount, Role on the status ConfigMap, config, DaemonSet): part
// of the dormant install and applied again by step 04 (registry-pivot), so both render the same.
// The agent lives in its own namespace (Pod Security `privileged`: it writes host paths); its Role
// is in the install namespace, where the status ConfigMap is.
import type { KubernetesObject } from '@kubernetes/client-node';
import { AGENT, agentNamespace, COMPONENT_LABEL, PART_OF, PART_OF_LABEL, type AgentConfig } from '../core/contracts.ts';
import { LOCKED_DOWN_CONTAINER } from '../core/pod-security.ts';
import { hostTls } from '../core/tls.ts';
import type { Values } from '../core/values.ts';

const MOUNT = { certs: '/host/containerd/certs.d', k3s: '/host/rancher/k3s', config: '/etc/cutover' };

/** The node agent and what it needs; also part of the dormant install (`cutover render`). */
export function agentObjects(values: Values, namespace: string): KubernetesObject[] {
  const status = values.status.configMapName;
  const labels = {
    [PART_OF_LABEL]: PART_OF,
    [COMPONENT_LABEL]: 'registry-pivot',
  };
  const own = agentNamespace(values, namespace);
  const config: Omit<AgentConfig, 'nodeName'> = {
    namespace,
    reportNamespace: own,
    statusConfigMap: status,
    certsDir: MOUNT.certs,
    k3sConfigDir: MOUNT.k3s,
    harborURL: values.sovereign.harborPublicURL,
    harborTls: hostTls(values.tls, new URL(values.sovereign.harborPublicURL).host),
    hostProjects: values.harbor.hostProjects,
  };
  const objects: Array<Record<string, unknown>> = [
    { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: AGENT.serviceAccount, namespace: own, labels } },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'Role',
      metadata: { name: AGENT.serviceAccount, namespace, labels },
      // Read and watch the status ConfigMap only (a watch of one name is authorized by that name).
      rules: [{ apiGroups: [''], resources: ['configmaps'], resourceNames: [status], verbs: ['get', 'watch'] }],
    },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'Role',
      metadata: { name: AGENT.serviceAccount, namespace: own, labels },
      // Each agent's report, by server-side apply, in its own namespace (node names are not known ahead).
      rules: [{ apiGroups: [''], resources: ['configmaps'], verbs: ['create', 'patch'] }],
    },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'RoleBinding',
      metadata: { name: AGENT.serviceAccount, namespace: own, labels },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: AGENT.serviceAccount },
      subjects: [{ kind: 'ServiceAccount', name: AGENT.serviceAccount, namespace: own }],
    },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'RoleBinding',
      metadata: { name: AGENT.serviceAccount, namespace, labels },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: AGENT.serviceAccount },
      subjects: [{ kind: 'ServiceAccount', name: AGENT.serviceAccount, namespace: own }],
    },
    {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: AGENT.config, namespace: own, labels },
      data: { 'agent.json': JSON.stringify(config, null, 2) },
    },
    {
      apiVersion: 'apps/v1',
      kind: 'DaemonSet',
      metadata: { name: AGENT.daemonSet, namespace: own, labels },
      spec: {
        selector: { matchLabels: { 'app.kubernetes.io/component': 'registry-pivot' } },
        template: {
          metadata: { labels },
          spec: {
            serviceAccountName: AGENT.serviceAccount,
            tolerations: [{ operator: 'Exists' }],
            containers: [
              {
                name: 'agent',
                // Pre-pivot: the agent is what pivots the nodes, so it comes from upstream.
                image: values.images.cutover,
                args: ['agent', '--config', `${MOUNT.config}/agent.json`],
                terminationMessagePolicy: 'FallbackToLogsOnError',
                env: [{ name: 'NODE_NAME', valueFrom: { fieldRef: { fieldPath: 'spec.nodeName' } } }],
                resources: { requests: { cpu: '10m', memory: '32Mi' }, limits: { memory: '128Mi' } },
                // Root for the root-owned host directories, and nothing else: no capability
                // (not even DAC override), no escalation, a read-only root filesystem.
                securityContext: { ...LOCKED_DOWN_CONTAINER, runAsUser: 0 },
                volumeMounts: [
                  { name: 'certs', mountPath: MOUNT.certs },
                  { name: 'k3s', mountPath: MOUNT.k3s },
                  { name: 'config', mountPath: MOUNT.config, readOnly: true },
                ],
              },
            ],
            volumes: [
              { name: 'certs', hostPath: { path: values.registryPivot.certsDir, type: 'DirectoryOrCreate' } },
              { name: 'k3s', hostPath: { path: values.registryPivot.k3sConfigDir, type: 'DirectoryOrCreate' } },
              { name: 'config', configMap: { name: AGENT.config } },
            ],
          },
        },
      },
    },
  ];
  return objects as unknown as KubernetesObject[];
}
