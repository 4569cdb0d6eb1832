// Node registration and heartbeats: a Node object per lab node, Ready, with its Lease renewed
// every 10 s and its status every 30 s, so the real node-lifecycle controller keeps it Ready.
import type { V1Node } from '@kubernetes/client-node';
import { kubeStatus as statusOf, mergePatch, microTime, type KubeCluster } from '../../src/adapters/kube/cluster.ts';
import { NODE_NETWORKS, type NodeName } from '../topology.ts';

const NODE_LEASE_NS = 'kube-node-lease';

function nodeStatus(name: string, now: Date): NonNullable<V1Node['status']> {
  const condition = (type: string, status: string, reason: string, message: string) => ({
    type,
    status,
    reason,
    message,
    lastHeartbeatTime: now,
    lastTransitionTime: now,
  });
  return {
    capacity: { cpu: '4', memory: '8Gi', pods: '110', 'ephemeral-storage': '50Gi' },
    allocatable: { cpu: '4', memory: '8Gi', pods: '110', 'ephemeral-storage': '50Gi' },
    conditions: [
      condition('MemoryPressure', 'False', 'KubeletHasSufficientMemory', 'kubelet has sufficient memory available'),
      condition('DiskPressure', 'False', 'KubeletHasNoDiskPressure', 'kubelet has no disk pressure'),
      condition('PIDPressure', 'False', 'KubeletHasSufficientPID', 'kubelet has sufficient PID available'),
      condition('Ready', 'True', 'KubeletReady', 'lab kubelet is posting ready status'),
    ],
    addresses: [{ type: 'InternalIP', address: NODE_NETWORKS[name as NodeName].address }],
    daemonEndpoints: { kubeletEndpoint: { Port: 0 } },
    nodeInfo: {
      architecture: 'amd64',
      operatingSystem: 'linux',
      osImage: 'Sovereign lab node',
      kernelVersion: '',
      kubeletVersion: 'v1.35.4',
      kubeProxyVersion: '',
      containerRuntimeVersion: 'containerd://1.6.20',
      machineID: '',
      systemUUID: '',
      bootID: '',
    },
  };
}

export async function registerNode(kube: KubeCluster, name: string): Promise<void> {
  try {
    await kube.core.createNode({
      body: {
        metadata: {
          name,
          labels: {
            'kubernetes.io/hostname': name,
            'kubernetes.io/os': 'linux',
            'kubernetes.io/arch': 'amd64',
            'sovereign.lab/node': 'true',
          },
        },
        spec: {},
      },
    });
  } catch (error) {
    if (statusOf(error) !== 409) throw error;
  }
  await heartbeat(kube, name, true);
}

export async function heartbeat(kube: KubeCluster, name: string, withStatus: boolean): Promise<void> {
  const now = new Date();
  if (withStatus) await kube.core.patchNodeStatus({ name, body: { status: nodeStatus(name, now) } }, mergePatch);
  // Patch bodies go out as written, so the MicroTime string survives (a typed Date would not).
  const renew = { spec: { renewTime: microTime(now), holderIdentity: name, leaseDurationSeconds: 40 } };
  try {
    await kube.coordination.patchNamespacedLease({ name, namespace: NODE_LEASE_NS, body: renew }, mergePatch);
  } catch (error) {
    if (statusOf(error) !== 404) throw error;
    await kube.coordination.createNamespacedLease({
      namespace: NODE_LEASE_NS,
      body: { metadata: { name }, spec: { holderIdentity: name, leaseDurationSeconds: 40 } },
    });
    await kube.coordination.patchNamespacedLease({ name, namespace: NODE_LEASE_NS, body: renew }, mergePatch);
  }
}
