// The lab's NetworkPolicy implementation: SIG Network's kube-network-policies (built from its Go
// module), as a lab daemon on the host. It learns pods, namespaces and policies from the apiserver as
// its ServiceAccount (it only runs in-cluster, so the token and CA are bound where client-go looks),
// and gives a verdict on every new pod connection the lab network queues to it (host-network.ts).
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { KubeCluster } from '../../src/adapters/kube/cluster.ts';
import { apply } from '../kube/apply.ts';
import { ADMIN_KUBECONFIG, pki } from '../kube/control-plane.ts';
import { peerBinary } from '../peers/build.ts';
import { daemonPid, startDaemon, stopDaemon, waitUntil } from '../processes.ts';
import type { Log } from '../timed.ts';
import { LAB_DIR, NET, PORTS } from '../topology.ts';
import { POLICY_QUEUE } from './host-network.ts';

const DIR = join(LAB_DIR, 'network-policies');
const SA_DIR = join(DIR, 'serviceaccount');
const IN_CLUSTER_SA_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';
const NAME = 'kube-network-policies';
const daemon = { pidFile: join(DIR, `${NAME}.pid`), logFile: join(DIR, `${NAME}.log`) };
export const NETWORK_POLICIES_LOG = daemon.logFile;

/** The RBAC of its upstream install.yaml: read pods, namespaces and NetworkPolicies; post Events. */
function rbac() {
  const meta = { name: NAME, namespace: 'kube-system' };
  return [
    { apiVersion: 'v1', kind: 'ServiceAccount', metadata: meta },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRole',
      metadata: { name: NAME },
      rules: [
        { apiGroups: [''], resources: ['pods', 'namespaces'], verbs: ['list', 'watch'] },
        { apiGroups: ['networking.k8s.io'], resources: ['networkpolicies'], verbs: ['list', 'watch'] },
        { apiGroups: ['', 'events.k8s.io'], resources: ['events'], verbs: ['create', 'patch', 'update'] },
      ],
    },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRoleBinding',
      metadata: { name: NAME },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: NAME },
      subjects: [{ kind: 'ServiceAccount', ...meta }],
    },
  ];
}

function command(): { command: string; args: string[] } {
  const script = [
    'set -e',
    `mkdir -p ${IN_CLUSTER_SA_DIR}`,
    `mount --bind '${SA_DIR}' ${IN_CLUSTER_SA_DIR}`,
    'exec "$@"',
  ].join('\n');
  return {
    command: 'unshare',
    args: [
      '--mount',
      '--propagation',
      'private',
      '--',
      'sh',
      '-c',
      script,
      'sh',
      peerBinary('kube-network-policies', NAME),
      // One instance judges every pod (a packet's verdict does not depend on the node); the name only
      // picks which pods it would list in its own nftables sets, which this kernel cannot load.
      '--hostname-override=node-a',
      `--nfqueue-id=${POLICY_QUEUE}`,
      `--metrics-bind-address=127.0.0.1:${PORTS.networkPoliciesMetrics}`,
      '--netfilter-bug-1766-fix=false',
      '--v=2',
    ],
  };
}

export async function startNetworkPolicies(log: Log): Promise<void> {
  mkdirSync(SA_DIR, { recursive: true });
  if (!daemonPid(daemon.pidFile)) {
    await apply(ADMIN_KUBECONFIG, rbac());
    const kube = KubeCluster.connect(ADMIN_KUBECONFIG);
    const token = await kube.core.createNamespacedServiceAccountToken({
      name: NAME,
      namespace: 'kube-system',
      body: { spec: { audiences: [], expirationSeconds: 7 * 24 * 3600 } },
    });
    writeFileSync(join(SA_DIR, 'token'), token.status?.token ?? '', { mode: 0o600 });
    writeFileSync(join(SA_DIR, 'ca.crt'), readFileSync(pki().ca.cert));
    writeFileSync(join(SA_DIR, 'namespace'), 'kube-system');
  }
  const state = startDaemon({
    name: NAME,
    ...command(),
    env: { KUBERNETES_SERVICE_HOST: NET.controlPlane.ip, KUBERNETES_SERVICE_PORT: String(PORTS.apiserver) },
    ...daemon,
  });
  await waitUntil('kube-network-policies listening on its queue', async () => queueBound(), 30_000, daemon);
  log(`  kube-network-policies v0.8.0 (NetworkPolicy on queue ${POLICY_QUEUE}): ${state}`);
}

/** The queue has a listener (one line per bound queue: its number first). */
function queueBound(): boolean {
  const queues = '/proc/net/netfilter/nfnetlink_queue';
  if (!existsSync(queues)) return false;
  return readFileSync(queues, 'utf8')
    .split('\n')
    .some((line) => line.trim().split(/\s+/)[0] === String(POLICY_QUEUE));
}

export function networkPoliciesRunning(): boolean {
  return daemonPid(daemon.pidFile) !== undefined && queueBound();
}

export async function stopNetworkPolicies(): Promise<void> {
  await stopDaemon(daemon.pidFile, command());
}
