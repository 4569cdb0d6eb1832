// The jobs executor (in-cluster default): each job-mode step runs as a Job stamped from its step
// ConfigMap's podSpec — `cutover-<step>-<runEpoch>`, seed labels, ttlSecondsAfterFinished, a
// per-step activeDeadlineSeconds — watched to completion with a watch that is re-established when
// it closes. daemonset-wait steps run in this process (they create and wait for the DaemonSet).
// A Job that hit its deadline, or whose pod was evicted or lost its node, is a transient failure: the
// engine may run the step again, as a new Job (a fresh epoch in its name); the failed one stays for
// its TTL, for the operator to read. An operator's abort deletes the running Job (its pod cleans up).
import type { V1Job } from '@kubernetes/client-node';
import type { KubeCluster } from '../adapters/kube/cluster.ts';
import {
  createJob,
  deleteJob,
  jobOutcome,
  listJobs,
  readJob,
  watchJob,
  type JobOutcome,
} from '../adapters/kube/jobs.ts';
import { listPods, terminationMessage } from '../adapters/kube/pods.ts';
import { COMPONENT_LABEL, JOB_STEP_LABEL, PART_OF, PART_OF_LABEL } from '../core/contracts.ts';
import { CutoverError } from '../core/errors.ts';
import { pollUntil } from '../core/poll.ts';
import type { Step, StepContext } from '../core/step.ts';
import type { DiscoveredStep } from './discovery.ts';
import type { Executor } from './engine.ts';
import { LocalExecutor } from './local-executor.ts';

export const JOB_TTL_SECONDS = 86_400;
/** A step Job outlives its step's deadline by this much: the step times out first, cleans up, and reports. */
export const JOB_GRACE_SECONDS = 60;

/** How long an abort waits for a deleted step Job's pod to clean up and go (its grace period and some). */
const STOP_WAIT_MS = 60_000;

/** The engine was told to stop (an abort, SIGTERM) — not its deadline, not a lost Lease (a new holder adopts the Job). */
function stoppedByOperator(signal: AbortSignal): boolean {
  const code = (signal.reason as { code?: unknown } | undefined)?.code;
  return signal.aborted && (code === 'aborted' || code === 'stopped');
}

export function jobName(step: string, runEpoch: number): string {
  return `cutover-${step}-${runEpoch}`.slice(0, 63).replace(/-+$/, '');
}

export class JobsExecutor<Env> implements Executor<Env> {
  readonly name = 'jobs';
  readonly #cluster: KubeCluster;
  readonly #namespace: string;
  readonly #steps: DiscoveredStep[];
  readonly #runEpoch: number;
  readonly #local = new LocalExecutor<Env>();

  constructor(cluster: KubeCluster, namespace: string, steps: DiscoveredStep[], runEpoch: number) {
    this.#cluster = cluster;
    this.#namespace = namespace;
    this.#steps = steps;
    this.#runEpoch = runEpoch;
  }

  async execute(
    step: Step<Env>,
    ctx: StepContext<Env>,
    started?: (jobName: string) => Promise<void>,
  ): Promise<{ jobName: string }> {
    const found = this.#steps.find((s) => s.stepName === step.id);
    if (!found) throw new CutoverError('no-step-configmap', `no step ConfigMap for ${step.id}`);
    if (found.mode === 'daemonset-wait') {
      await this.#local.execute(step, ctx);
      return { jobName: found.daemonSet ?? '' };
    }
    // A resumed engine adopts the step's Job still running from before, instead of starting a second one.
    let name = await this.#activeJob(step.id);
    const deadline = ctx.values.stepTimeouts[step.timeoutKey];
    if (!name) {
      // This run's Job, unless it already exists and failed (a retry): then the next free epoch.
      let epoch = this.#runEpoch;
      let existing = await this.#read(jobName(step.id, epoch));
      while (existing && jobOutcome(existing)?.done === 'Failed') {
        epoch = Math.max(epoch + 1, Math.floor(Date.now() / 1000));
        existing = await this.#read(jobName(step.id, epoch));
      }
      name = jobName(step.id, epoch);
      if (!existing) await this.#create(name, step.id, found, deadline);
    }
    await started?.(name);
    ctx.log(`Job ${this.#namespace}/${name} (deadline ${deadline} s)`);
    let outcome: JobOutcome;
    try {
      outcome = await this.#wait(name, ctx.signal);
    } catch (error) {
      if (stoppedByOperator(ctx.signal)) await this.#stop(name, ctx);
      throw error;
    }
    if (outcome.done === 'Complete') return { jobName: name };
    if (outcome.reason === 'DeadlineExceeded')
      throw new CutoverError('transient', `Job ${name} exceeded its ${deadline} s deadline`);
    // Not the step's fault: its pod was evicted or its node went away. Run it again (within the bound).
    const lost = await this.#podLost(name);
    if (lost) throw new CutoverError('transient', `Job ${name}: its pod ${lost}; running the step again`);
    throw new CutoverError('step-job-failed', `Job ${name} failed (${outcome.reason}): ${outcome.message}`);
  }

  /**
   * An abort or SIGTERM of the engine stops the step where it runs: the Job is deleted, its pod gets
   * SIGTERM and cleans up (the egress hold) in its grace period; the engine waits until it is gone.
   */
  async #stop(name: string, ctx: StepContext<Env>): Promise<void> {
    if (!(await deleteJob(this.#cluster, this.#namespace, name))) return;
    ctx.log(`Job ${this.#namespace}/${name} deleted: its pod stops and cleans up`);
    const until = Date.now() + STOP_WAIT_MS;
    while (Date.now() < until && (await this.#read(name))) await new Promise((r) => setTimeout(r, 1000));
  }

  /** Why the Job's pod was lost, when it was: evicted, or its node gone (the pod's status says). */
  async #podLost(name: string): Promise<string | undefined> {
    const pods = await listPods(this.#cluster, this.#namespace, `job-name=${name}`).catch(() => []);
    for (const pod of pods) {
      const reason = pod.status?.reason ?? '';
      if (reason === 'Evicted') return `was evicted (${pod.status?.message ?? ''})`;
      if (reason === 'NodeLost' || reason === 'Terminated' || reason === 'UnexpectedAdmissionError')
        return `lost its node (${reason})`;
      if (pod.status?.conditions?.some((c) => c.type === 'DisruptionTarget' && c.status === 'True'))
        return 'was disrupted (DisruptionTarget)';
    }
    return undefined;
  }

  async #activeJob(step: string): Promise<string | undefined> {
    const jobs = await listJobs(this.#cluster, this.#namespace, `${JOB_STEP_LABEL}=${step}`);
    return jobs.find((j) => !jobOutcome(j) && !j.metadata?.deletionTimestamp)?.metadata?.name;
  }

  #read(name: string): Promise<V1Job | undefined> {
    return readJob(this.#cluster, this.#namespace, name);
  }

  async #create(name: string, step: string, found: DiscoveredStep, deadline: number): Promise<void> {
    const labels = {
      [PART_OF_LABEL]: PART_OF,
      [COMPONENT_LABEL]: 'cutover-job',
      [JOB_STEP_LABEL]: step,
    };
    // A resumed engine finds the Job of its run already there: adopt it.
    await createJob(this.#cluster, this.#namespace, {
      metadata: { name, labels },
      spec: {
        ttlSecondsAfterFinished: JOB_TTL_SECONDS,
        // Longer than the step's own deadline: the step stops itself first and cleans up (the egress
        // hold) before the kubelet kills the pod.
        activeDeadlineSeconds: deadline + JOB_GRACE_SECONDS,
        backoffLimit: 0,
        // A pod evicted, preempted or on a node that went away is not the step failing: the Job starts
        // another (within its deadline) without counting it against the backoff limit.
        podFailurePolicy: {
          rules: [{ action: 'Ignore', onPodConditions: [{ type: 'DisruptionTarget', status: 'True' }] }],
        },
        template: {
          metadata: { labels },
          spec: { restartPolicy: 'Never', ...found.podSpec, containers: found.podSpec?.containers ?? [] },
        },
      },
    });
  }

  /** Reads the Job, then watches it until it may have changed (at most 30 s: a lost event is caught by the next read). */
  async #wait(name: string, signal: AbortSignal): Promise<JobOutcome> {
    const job = await pollUntil(
      async () => {
        const job = await this.#read(name);
        if (!job) throw new CutoverError('job-vanished', `Job ${this.#namespace}/${name} disappeared`);
        return job;
      },
      (job) => jobOutcome(job) !== undefined,
      {
        signal,
        wake: (last, signal) =>
          watchJob(this.#cluster, this.#namespace, name, last.metadata?.resourceVersion ?? '', (j) => !!jobOutcome(j), {
            signal,
            timeoutMs: 30_000,
          }),
        code: 'transient',
        message: (last) =>
          `step deadline passed while waiting for Job ${name} (active ${last.status?.active ?? 0}, failed ${last.status?.failed ?? 0}, no Complete or Failed condition yet)`,
      },
    );
    const outcome = jobOutcome(job) as JobOutcome;
    return outcome.done === 'Failed'
      ? { ...outcome, message: `${outcome.message} ${await this.#podMessage(name)}`.trim() }
      : outcome;
  }

  /** What the step's container said on its way out (the kubelet's termination message). */
  async #podMessage(name: string): Promise<string> {
    const pods = await listPods(this.#cluster, this.#namespace, `job-name=${name}`).catch(() => []);
    return pods.map(terminationMessage).filter(Boolean).join('; ');
  }
}
