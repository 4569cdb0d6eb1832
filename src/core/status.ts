// The status ConfigMap contract (`self-sovereign-cutover-status`): keys, initial values and how
// progress is computed. Pure: the engine decides what to write, the store writes it. The keys
// themselves are wire contracts (core/contracts.ts).
import { mirrorHealth, type MirrorHealth } from './mirror-health.ts';
import { pinStatus, type PinStatus } from './pin-status.ts';
import { intakeWindow, type IntakeWindow } from './intake-window.ts';
import { sovereignCondition, type SovereignCondition } from './sovereign-condition.ts';
import { recheckKey, REQUEST_KEYS, STEP_IDS, stepKey, type StatusData, type StepResult } from './contracts.ts';

/** The data a status ConfigMap is created with — once; later writes are merge-patches. */
export function initialStatus(steps: readonly string[] = STEP_IDS): StatusData {
  const data: StatusData = {
    cutoverComplete: 'false',
    cutoverStartedAt: '',
    cutoverFinishedAt: '',
    currentStep: '',
    currentStepIndex: '0',
    totalSteps: String(steps.length),
    progressPercent: '0',
    failedStep: '',
    lastError: '',
    registriesYamlActive: 'v1',
  };
  for (const step of steps)
    for (const field of ['startedAt', 'finishedAt', 'result', 'jobName'] as const) data[stepKey(step, field)] = '';
  return data;
}

/** floor(100·i/N) before step i (0-based), 100 when all are done. */
export function progressPercent(index: number, total: number): string {
  return String(total === 0 ? 100 : Math.floor((100 * index) / total));
}

export function stepResult(data: StatusData, step: string): StepResult {
  return (data[stepKey(step, 'result')] ?? '') as StepResult;
}

/** `state` as the API reports it: `sovereign` only when the whole chain passed. */
export function cutoverState(data: StatusData): 'tethered' | 'sovereign' {
  return data.cutoverComplete === 'true' ? 'sovereign' : 'tethered';
}

export interface StepReport {
  name: string;
  result: StepResult;
  startedAt?: string;
  finishedAt?: string;
  jobName?: string;
  /** A rerun found it still holding… */
  recheckedAt?: string;
  /** …or drifted (what), and ran it again. */
  repairedAt?: string;
  drift?: string;
}

/** The status as the API (`GET …/cutover/status`) and `cutover status -o json` report it. */
export interface StatusReport {
  state: 'tethered' | 'sovereign';
  cutoverComplete: boolean;
  cutoverStartedAt?: string;
  cutoverFinishedAt?: string;
  currentStep?: string;
  currentStepIndex: number;
  totalSteps: number;
  progressPercent: number;
  failedStep?: string;
  lastError?: string;
  registriesYamlActive: string;
  /** Hosts whose TLS verification the run skips (`tls.hosts[].insecureSkipVerify`). */
  tlsUnverifiedHosts?: string[];
  /** After the cutover: is the Git mirror keeping up with upstream (`degraded` past its threshold)? */
  mirror?: MirrorHealth;
  /** After the cutover: what the mirror's head pins, and each pin the local Harbor cannot serve. */
  pins?: PinStatus;
  /** `intake.mode: request`: the last delivery window an operator's approval opened. */
  intakeWindow?: IntakeWindow;
  /** The last run an operator aborted: who, and when the engine stopped. */
  aborted?: { by: string; at: string };
  /** The last `cutover rollback`: who, when, and how it ended (`running` while it runs). */
  rollback?: {
    by: string;
    startedAt: string;
    finishedAt?: string;
    result: string;
    changes?: number;
    error?: string;
  };
  /**
   * What the API asked the controller for (ADR 0021): a start or rollback not taken yet, and why the last
   * one could not be carried out (or was withdrawn).
   */
  request?: { pending?: string; error?: string };
  /** Sovereign, mirror keeping up, Flux on the mirror's head — or why not (the condition to alert on). */
  condition: SovereignCondition;
  steps: StepReport[];
  raw: StatusData;
}

export function statusReport(data: StatusData, steps: readonly string[] = STEP_IDS): StatusReport {
  const opt = (key: string, value: string | undefined): Record<string, string> => (value ? { [key]: value } : {});
  const mirror = mirrorHealth(data);
  const pins = pinStatus(data);
  const window = intakeWindow(data);
  return {
    state: cutoverState(data),
    cutoverComplete: data.cutoverComplete === 'true',
    ...opt('cutoverStartedAt', data.cutoverStartedAt),
    ...opt('cutoverFinishedAt', data.cutoverFinishedAt),
    ...opt('currentStep', data.currentStep),
    currentStepIndex: Number(data.currentStepIndex ?? 0) || 0,
    totalSteps: Number(data.totalSteps ?? steps.length) || steps.length,
    progressPercent: Number(data.progressPercent ?? 0) || 0,
    ...opt('failedStep', data.failedStep),
    ...opt('lastError', data.lastError),
    registriesYamlActive: data.registriesYamlActive || 'v1',
    ...(data.tlsUnverifiedHosts ? { tlsUnverifiedHosts: data.tlsUnverifiedHosts.split(',') } : {}),
    ...(mirror ? { mirror } : {}),
    ...(pins ? { pins } : {}),
    ...(window ? { intakeWindow: window } : {}),
    ...(data.abortedBy ? { aborted: { by: data.abortedBy, at: data.abortedAt ?? '' } } : {}),
    ...(data.rollbackBy
      ? {
          rollback: {
            by: data.rollbackBy,
            startedAt: data.rollbackStartedAt ?? '',
            ...opt('finishedAt', data.rollbackFinishedAt),
            result: data.rollbackResult ?? '',
            ...(data.rollbackChanges ? { changes: Number(data.rollbackChanges) } : {}),
            ...opt('error', data.rollbackError),
          },
        }
      : {}),
    ...requestReport(data),
    condition: sovereignCondition(data),
    steps: steps.map((name) => ({
      name,
      result: stepResult(data, name),
      ...opt('startedAt', data[stepKey(name, 'startedAt')]),
      ...opt('finishedAt', data[stepKey(name, 'finishedAt')]),
      ...opt('jobName', data[stepKey(name, 'jobName')]),
      ...opt('recheckedAt', data[recheckKey(name, 'recheckedAt')]),
      ...opt('repairedAt', data[recheckKey(name, 'repairedAt')]),
      ...opt('drift', data[recheckKey(name, 'drift')]),
    })),
    raw: data,
  };
}

function requestReport(data: StatusData): Pick<StatusReport, 'request'> {
  const pending = data[REQUEST_KEYS.startAt]
    ? `start requested at ${data[REQUEST_KEYS.startAt]} (${data[REQUEST_KEYS.startSource] ?? ''})`
    : data[REQUEST_KEYS.rollbackAt]
      ? `rollback requested at ${data[REQUEST_KEYS.rollbackAt]} by ${data[REQUEST_KEYS.rollbackBy] ?? ''}`
      : '';
  const error = data[REQUEST_KEYS.error] ?? '';
  return pending || error ? { request: { ...(pending ? { pending } : {}), ...(error ? { error } : {}) } } : {};
}
