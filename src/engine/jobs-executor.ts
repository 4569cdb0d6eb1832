// The jobs executor (in-cluster default): each job-mode step runs as a Job stamped from its step
// ConfigMap's podSpec — `cutover-<step>-<runEpoch>`, seed labels, ttlSecondsAfterFinished, a
// per-step activeDeadlineSeconds — watched to completion with a watch that is re-established when
// it closes. daemonset-wait steps run in this process (they create and wait for the DaemonSet).
// A Job that hit its deadline is a transient failure: the engine may run the step again, as a new
// Job (a fresh epoch in its name); the failed one stays for its TTL, for the operator to read.
import { Watch, type V1Job } from '@kubernetes/client-node';
import { kubeError, kubeStatus, type KubeCluster } from '../adapters/kube/cluster.ts';
import { CutoverError } from '../core/errors.ts';
import type { Step, StepContext } from '../core/step.ts';
import type { DiscoveredStep } from './discovery.ts';
import type { Executor } from './engine.ts';
import { LocalExecutor } from './local-executor.ts';

export const JOB_TTL_SECONDS = 86_400;

export function jobName(step: string, runEpoch: number): string {
  return `cutover-${step}-${runEpoch}`.slice(0, 63).replace(/-+$/, '');
}

type JobOutcome = { done: 'Complete' } | { done: 'Failed'; reason: string; message: string };

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

  async execute(step: Step<Env>, ctx: StepContext<Env>): Promise<{ jobName: string }> {
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
      while (existing && this.#outcome(existing)?.done === 'Failed') {
        epoch = Math.max(epoch + 1, Math.floor(Date.now() / 1000));
        existing = await this.#read(jobName(step.id, epoch));
      }
      name = jobName(step.id, epoch);
      if (!existing) await this.#create(name, step.id, found, deadline);
    }
    ctx.log(`Job ${this.#namespace}/${name} (deadline ${deadline} s)`);
    const outcome = await this.#wait(name, ctx.signal);
    if (outcome.done === 'Complete') return { jobName: name };
    if (outcome.reason === 'DeadlineExceeded')
      throw new CutoverError('transient', `Job ${name} exceeded its ${deadline} s deadline`);
    throw new CutoverError('step-job-failed', `Job ${name} failed (${outcome.reason}): ${outcome.message}`);
  }

  async #activeJob(step: string): Promise<string | undefined> {
    const jobs = await this.#cluster.batch
      .listNamespacedJob({ namespace: this.#namespace, labelSelector: `cutover.openova.io/step=${step}` })
      .catch((error: unknown) => {
        throw kubeError('GET', `jobs/${this.#namespace}?step=${step}`, error);
      });
    return jobs.items.find((j) => !this.#outcome(j) && !j.metadata?.deletionTimestamp)?.metadata?.name;
  }

  async #read(name: string): Promise<V1Job | undefined> {
    try {
      return await this.#cluster.batch.readNamespacedJob({ name, namespace: this.#namespace });
    } catch (error) {
      if (kubeStatus(error) === 404) return undefined;
      throw kubeError('GET', `jobs/${this.#namespace}/${name}`, error);
    }
  }

  async #create(name: string, step: string, found: DiscoveredStep, deadline: number): Promise<void> {
    const labels = {
      'app.kubernetes.io/part-of': 'self-sovereign-cutover',
      'app.kubernetes.io/component': 'cutover-job',
      'cutover.openova.io/step': step,
    };
    try {
      await this.#cluster.batch.createNamespacedJob({
        namespace: this.#namespace,
        body: {
          metadata: { name, labels },
          spec: {
            ttlSecondsAfterFinished: JOB_TTL_SECONDS,
            activeDeadlineSeconds: deadline,
            backoffLimit: 0,
            template: {
              metadata: { labels },
              spec: { restartPolicy: 'Never', ...found.podSpec, containers: found.podSpec?.containers ?? [] },
            },
          },
        },
      });
    } catch (error) {
      // A resumed engine finds the Job of its run already there: adopt it.
      if (kubeStatus(error) !== 409) throw kubeError('POST', `jobs/${this.#namespace}/${name}`, error);
    }
  }

  #outcome(job: V1Job): JobOutcome | undefined {
    const c = job.status?.conditions?.find(
      (x) => x.status === 'True' && (x.type === 'Complete' || x.type === 'Failed'),
    );
    if (!c) return undefined;
    return c.type === 'Complete'
      ? { done: 'Complete' }
      : { done: 'Failed', reason: c.reason ?? 'Failed', message: c.message ?? '' };
  }

  /** Watches the Job; a closed watch is re-established, a lost event is caught by a re-read. */
  async #wait(name: string, signal: AbortSignal): Promise<JobOutcome> {
    const watch = new Watch(this.#cluster.config);
    while (!signal.aborted) {
      const job = await this.#read(name);
      if (!job) throw new CutoverError('job-vanished', `Job ${this.#namespace}/${name} disappeared`);
      const outcome = this.#outcome(job);
      if (outcome)
        return outcome.done === 'Failed'
          ? { ...outcome, message: `${outcome.message} ${await this.#podMessage(name)}`.trim() }
          : outcome;
      await new Promise<void>((resolve) => {
        let request: { abort(): void } | undefined;
        let finished = false;
        const finish = () => {
          finished = true;
          clearTimeout(timer);
          signal.removeEventListener('abort', finish);
          request?.abort();
          resolve();
        };
        const timer = setTimeout(finish, 30_000);
        signal.addEventListener('abort', finish, { once: true });
        watch
          .watch(
            `/apis/batch/v1/namespaces/${this.#namespace}/jobs`,
            { fieldSelector: `metadata.name=${name}`, resourceVersion: job.metadata?.resourceVersion ?? '' },
            (_type: string, obj: V1Job) => {
              if (this.#outcome(obj)) finish();
            },
            () => finish(),
          )
          .then(
            (r) => {
              request = r;
              if (finished) r.abort(); // it ended before the watch was up
            },
            () => finish(),
          );
      });
    }
    throw new CutoverError('transient', `step deadline passed while waiting for Job ${name}`);
  }

  /** What the step's container said on its way out (the kubelet's termination message). */
  async #podMessage(name: string): Promise<string> {
    const pods = await this.#cluster.core
      .listNamespacedPod({ namespace: this.#namespace, labelSelector: `job-name=${name}` })
      .catch(() => undefined);
    return (pods?.items ?? [])
      .map((p) => p.status?.containerStatuses?.[0]?.state?.terminated?.message ?? '')
      .filter(Boolean)
      .join('; ');
  }
}
