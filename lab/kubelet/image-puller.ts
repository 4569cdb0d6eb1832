// Pulls a container's image through its node's containerd, as a kubelet does: per imagePullPolicy,
// ErrImagePull then ImagePullBackOff with back-off, the pulled digest as the container's imageID.
import { setTimeout as sleep } from 'node:timers/promises';
import type { V1Container } from '@kubernetes/client-node';
import { formatImageRef, parseImageRef } from '../../src/core/image-ref.ts';
import { ctr, pullOnNode, type LabNode } from '../nodes/containerd.ts';
import { log } from './log.ts';
import type { ContainerRuntime, PodRuntime } from './pod-runtime.ts';
import type { StatusPublisher } from './status-publisher.ts';

const IMAGE_PULL_BACKOFF = [2_000, 5_000, 10_000, 20_000];
/**
 * One pull attempt's limit. A pull-through cache can leave a pull hanging (distribution#3390);
 * containerd's CRI cancels a pull that stops making progress, and so does this kubelet — the lab's
 * images are a few MB, so 20 s means stuck, and the retry below goes on.
 */
const IMAGE_PULL_TIMEOUT_MS = 20_000;

export class ImagePuller {
  readonly #status: StatusPublisher;

  constructor(status: StatusPublisher) {
    this.#status = status;
  }

  /** Pulls through the node's containerd with back-off; false when the pod was stopped meanwhile. */
  async pull(rt: PodRuntime, c: V1Container, runtime: ContainerRuntime): Promise<boolean> {
    const image = normaliseImage(c.image ?? '');
    const policy = c.imagePullPolicy ?? (image.endsWith(':latest') ? 'Always' : 'IfNotPresent');
    // A present image's digest is read once: by the presence check, or after the pull.
    let digest: string | undefined;
    for (let attempt = 0; !rt.stopped; attempt++) {
      if (policy !== 'Always' && (digest = await this.#imageDigest(rt.node, image))) break;
      const pulled = await pullOnNode(rt.node, image, IMAGE_PULL_TIMEOUT_MS);
      if (pulled.code === 0) break;
      const message = `Failed to pull image "${c.image}": ${pulled.stderr.trim().split('\n').at(-1) ?? ''}`;
      log(`pod ${rt.key} on ${rt.node.name}: ${message}`);
      runtime.status.state = { waiting: { reason: 'ErrImagePull', message } };
      await this.#status.publish(rt);
      await sleep(1_000);
      runtime.status.state = {
        waiting: { reason: 'ImagePullBackOff', message: `Back-off pulling image "${c.image}"` },
      };
      await this.#status.publish(rt);
      await sleep(IMAGE_PULL_BACKOFF[Math.min(attempt, IMAGE_PULL_BACKOFF.length - 1)] as number);
    }
    if (rt.stopped) return false;
    digest ??= await this.#imageDigest(rt.node, image);
    runtime.status.imageID = digest ? `${image.replace(/:[^/:]+$/, '')}@${digest}` : '';
    runtime.status.state = { waiting: { reason: 'ContainerCreating' } };
    return true;
  }

  async #imageDigest(node: LabNode, image: string): Promise<string | undefined> {
    const listed = await ctr(node, ['images', 'ls', `name==${image}`]);
    const line = listed.stdout.split('\n').find((l) => l.startsWith(`${image} `));
    return line ? /sha256:[0-9a-f]{64}/.exec(line)?.[0] : undefined;
  }
}

/** `nginx` → `docker.io/library/nginx:latest`, as the kubelet and containerd name images. */
export function normaliseImage(image: string): string {
  return formatImageRef(parseImageRef(image));
}
