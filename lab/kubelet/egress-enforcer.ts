// The lab's network at node level: the egress hold NetworkPolicy cuts the upstream peers off, as
// a CNI would cut the pods' traffic to them.
import { existsSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { NO_ENFORCEMENT_MARKER } from '../endpoints.ts';
import type { KubeCluster } from '../../src/adapters/kube/cluster.ts';
import { cutUpstream, restoreUpstream } from '../upstream.ts';
import { log } from './log.ts';

export class EgressEnforcer {
  readonly #kube: KubeCluster;
  #stopping = false;

  constructor(kube: KubeCluster) {
    this.#kube = kube;
  }

  /**
   * What a CNI would do: while any default-deny egress NetworkPolicy exists (empty podSelector,
   * Egress, no rule reaching outside), the lab's upstream peers are unreachable; when the last one
   * goes, they come back. Only this loop's own cuts are undone.
   */
  async run(): Promise<void> {
    let cutByHold = false;
    while (!this.#stopping) {
      try {
        const policies = (await this.#kube.networking.listNetworkPolicyForAllNamespaces()).items;
        // A CNI that ignores NetworkPolicy (`setEgressEnforcement(false)`) sees no hold at all.
        const hold =
          !existsSync(NO_ENFORCEMENT_MARKER) &&
          policies.some(
            (p) =>
              Object.keys(p.spec?.podSelector?.matchLabels ?? {}).length === 0 &&
              !p.spec?.podSelector?.matchExpressions?.length &&
              (p.spec?.policyTypes ?? []).includes('Egress'),
          );
        if (hold && !cutByHold) {
          await cutUpstream((line) => log(`egress hold: ${line}`));
          cutByHold = true;
        } else if (!hold && cutByHold) {
          await restoreUpstream((line) => log(`egress hold lifted: ${line}`));
          cutByHold = false;
        }
      } catch (error) {
        log(`egress enforcement: ${String(error)}`);
      }
      await sleep(1_000);
    }
  }

  stop(): void {
    this.#stopping = true;
  }
}
