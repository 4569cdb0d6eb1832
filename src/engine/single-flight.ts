// Single flight across processes and replicas: a coordination.k8s.io Lease. A live holder other
// than us means "in progress"; an expired one is taken over (the API's resourceVersion decides
// a race). The holder renews while it runs and releases when done.
import { LEASE_NAME } from '../core/contracts.ts';
import { CutoverError } from '../core/errors.ts';
import { kubeError, kubeStatus, mergePatch, microTime, type KubeCluster } from '../adapters/kube/cluster.ts';

const DURATION_SECONDS = 30;

export class SingleFlight {
  readonly #cluster: KubeCluster;
  readonly #namespace: string;
  readonly holder: string;
  #timer: NodeJS.Timeout | undefined;
  /** Fires two periods after the renewTime of the last renewal that got through. */
  #giveUp: NodeJS.Timeout | undefined;
  readonly #lost = new AbortController();
  #renewing = false;
  readonly #durationSeconds: number;

  /** Aborted when we no longer hold the Lease (taken over, or not renewed for its whole duration). */
  get signal(): AbortSignal {
    return this.#lost.signal;
  }

  /** `durationSeconds`: how long the Lease holds without renewal (it is renewed every third of that). */
  constructor(cluster: KubeCluster, namespace: string, holder: string, durationSeconds = DURATION_SECONDS) {
    this.#cluster = cluster;
    this.#namespace = namespace;
    this.holder = holder;
    this.#durationSeconds = durationSeconds;
  }

  get #periodMs(): number {
    return (this.#durationSeconds * 1000) / 3;
  }

  /** Takes the Lease or throws CutoverError('in-progress') naming who holds it. */
  async acquire(): Promise<void> {
    const { coordination } = this.#cluster;
    const now = new Date();
    // Lease times are MicroTime; a plain object body is sent as written.
    const spec = {
      holderIdentity: this.holder,
      leaseDurationSeconds: this.#durationSeconds,
      acquireTime: microTime(now),
      renewTime: microTime(now),
    };
    let lease;
    try {
      lease = await coordination.readNamespacedLease({ name: LEASE_NAME, namespace: this.#namespace });
    } catch (error) {
      if (kubeStatus(error) !== 404) throw kubeError('GET', `leases/${this.#namespace}/${LEASE_NAME}`, error);
    }
    try {
      if (!lease) {
        await coordination.createNamespacedLease({
          namespace: this.#namespace,
          body: { metadata: { name: LEASE_NAME }, spec: {} },
        });
        lease = await coordination.readNamespacedLease({ name: LEASE_NAME, namespace: this.#namespace });
      }
      const holder = lease.spec?.holderIdentity ?? '';
      const renewed = lease.spec?.renewTime ? new Date(lease.spec.renewTime).getTime() : 0;
      const live =
        holder !== '' &&
        holder !== this.holder &&
        Date.now() - renewed < (lease.spec?.leaseDurationSeconds ?? this.#durationSeconds) * 1000;
      if (live) throw new CutoverError('in-progress', `a cutover is already in progress (held by ${holder})`);
      // A merge patch carrying the resourceVersion we read is a compare-and-swap: a racer gets 409.
      await coordination.patchNamespacedLease(
        {
          name: LEASE_NAME,
          namespace: this.#namespace,
          body: { metadata: { resourceVersion: lease.metadata?.resourceVersion ?? '' }, spec },
        },
        mergePatch,
      );
    } catch (error) {
      if (error instanceof CutoverError) throw error;
      if (kubeStatus(error) === 409)
        throw new CutoverError('in-progress', 'a cutover is already in progress (another engine took the lease first)');
      throw kubeError('PATCH', `leases/${this.#namespace}/${LEASE_NAME}`, error);
    }
    this.#renewed(now.getTime());
    // Acquiring again while held (the engine re-acquires what its caller took) keeps one renewer.
    clearInterval(this.#timer);
    this.#timer = setInterval(() => void this.#renew(), this.#periodMs);
    this.#timer.unref();
  }

  /** Patches the Lease only while we hold it (compare-and-swap on the resourceVersion we read); false when we do not. */
  async #ifHeld(spec: Record<string, unknown>): Promise<boolean> {
    const { coordination } = this.#cluster;
    const lease = await coordination.readNamespacedLease({ name: LEASE_NAME, namespace: this.#namespace });
    if (lease.spec?.holderIdentity !== this.holder) return false;
    await coordination.patchNamespacedLease(
      {
        name: LEASE_NAME,
        namespace: this.#namespace,
        body: { metadata: { resourceVersion: lease.metadata?.resourceVersion ?? '' }, spec },
      },
      mergePatch,
    );
    return true;
  }

  /**
   * A renewal got through with `renewTime` (what others see the Lease expire from): the give-up is
   * re-armed for two periods after it — a whole period before the Lease expires and another engine
   * may take it, so the two never run at once. A timer of its own, not the next renewal tick, which
   * could come a period late.
   */
  #renewed(renewTime: number): void {
    clearTimeout(this.#giveUp);
    this.#giveUp = setTimeout(
      () => this.#lose('no renewal got through'),
      Math.max(0, renewTime + 2 * this.#periodMs - Date.now()),
    );
    this.#giveUp.unref();
  }

  /** Every period: renew, each attempt bounded by one period. Lost — the signal aborts — when someone else holds it. */
  async #renew(): Promise<void> {
    if (this.#renewing) return; // the last attempt is still out (it gives up within its period)
    this.#renewing = true;
    try {
      const at = new Date();
      const held = await Promise.race([
        this.#ifHeld({ renewTime: microTime(at) }),
        new Promise<undefined>((resolve) => setTimeout(() => resolve(undefined), this.#periodMs).unref()),
      ]).catch(() => undefined);
      if (held && !this.#lost.signal.aborted) this.#renewed(at.getTime());
      if (held === false) this.#lose('another engine holds it');
    } finally {
      this.#renewing = false;
    }
  }

  #lose(why: string): void {
    clearInterval(this.#timer);
    clearTimeout(this.#giveUp);
    if (this.#lost.signal.aborted) return;
    this.#lost.abort(
      new CutoverError('lease-lost', `this engine lost the single-flight Lease (${why}); another run may have started`),
    );
  }

  async release(): Promise<void> {
    clearInterval(this.#timer);
    clearTimeout(this.#giveUp);
    await this.#ifHeld({ holderIdentity: '', renewTime: null }).catch(() => undefined);
  }
}

/** Who holds the Lease now, if anyone does (a holder that stopped renewing holds nothing). */
export async function liveHolder(cluster: KubeCluster, namespace: string): Promise<string | undefined> {
  try {
    const lease = await cluster.coordination.readNamespacedLease({ name: LEASE_NAME, namespace });
    const holder = lease.spec?.holderIdentity ?? '';
    const renewed = lease.spec?.renewTime ? new Date(lease.spec.renewTime).getTime() : 0;
    const live = Date.now() - renewed < (lease.spec?.leaseDurationSeconds ?? DURATION_SECONDS) * 1000;
    return holder && live ? holder : undefined;
  } catch (error) {
    if (kubeStatus(error) === 404) return undefined;
    throw kubeError('GET', `leases/${namespace}/${LEASE_NAME}`, error);
  }
}
