// What the lab kubelet keeps for each pod it runs, shared by the pod runner, the image puller, the
// process runner and the status publisher.
import type { ChildProcess } from 'node:child_process';
import type { V1ContainerStatus, V1Pod } from '@kubernetes/client-node';
import type { LabNode } from '../nodes/containerd.ts';
import type { PodAddress } from './pod-network.ts';
import type { NodeHost } from './pod-spec.ts';

export interface KubeletNode extends LabNode, NodeHost {}

export interface ContainerRuntime {
  name: string;
  status: V1ContainerStatus;
  process?: ChildProcess | undefined;
}

export interface PodRuntime {
  uid: string;
  key: string;
  pod: V1Pod;
  node: KubeletNode;
  containers: Map<string, ContainerRuntime>;
  init: Map<string, ContainerRuntime>;
  stopped: boolean;
  /** Set once the pod is being deleted: its containers' graceful termination, then its removal. */
  terminating?: Promise<void>;
  phase: string;
  dir: string;
  /** The pod's own network namespace and address. */
  network: PodAddress;
}
