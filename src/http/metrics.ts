// Prometheus metrics, read from the status ConfigMap at scrape time (level-triggered: every API
// replica reports the same run, wherever the controller runs it), plus this process's HTTP requests.
import { collectDefaultMetrics, Counter, Gauge, Registry } from 'prom-client';
import { cutoverState, stepResult } from '../core/status.ts';
import { mirrorHealth } from '../core/mirror-health.ts';
import { pinStatus } from '../core/pin-status.ts';
import { intakeWindow } from '../core/intake-window.ts';
import { sovereignCondition } from '../core/sovereign-condition.ts';
import type { TetherSummary } from '../inventory/tethers.ts';
import { STEP_IDS, stepKey, type StatusData } from '../core/contracts.ts';

export class CutoverMetrics {
  readonly registry = new Registry();
  readonly requests: Counter<'route' | 'code'>;

  constructor(snapshot: () => StatusData | undefined, tethers: () => TetherSummary | undefined = () => undefined) {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry, prefix: 'cutover_' });
    new Gauge({
      name: 'cutover_state',
      help: 'Cutover state: 1 for the current state (tethered or sovereign)',
      labelNames: ['state'],
      registers,
      collect() {
        this.reset();
        const data = snapshot();
        if (data) this.set({ state: cutoverState(data) }, 1);
      },
    });
    new Gauge({
      name: 'cutover_progress_percent',
      help: 'progressPercent of the status ConfigMap',
      registers,
      collect() {
        this.set(Number(snapshot()?.progressPercent ?? 0) || 0);
      },
    });
    new Gauge({
      name: 'cutover_step_result',
      help: 'Per step: 1 for its current result (pending, running, success, failed)',
      labelNames: ['step', 'result'],
      registers,
      collect() {
        this.reset();
        const data = snapshot();
        if (data) for (const step of STEP_IDS) this.set({ step, result: stepResult(data, step) || 'pending' }, 1);
      },
    });
    new Gauge({
      name: 'cutover_step_duration_seconds',
      help: 'Per step: finishedAt - startedAt of its last run (running: so far)',
      labelNames: ['step'],
      registers,
      collect() {
        this.reset();
        const data = snapshot();
        for (const step of STEP_IDS) {
          const started = Date.parse(data?.[stepKey(step, 'startedAt')] ?? '');
          if (!Number.isFinite(started)) continue;
          const finished = Date.parse(data?.[stepKey(step, 'finishedAt')] ?? '');
          this.set({ step }, ((Number.isFinite(finished) ? finished : Date.now()) - started) / 1000);
        }
      },
    });
    // After the cutover (ADR 0016): absent until the first mirror check, so no alert fires on a tethered cluster.
    new Gauge({
      name: 'cutover_mirror_sync_age_seconds',
      help: "Seconds since the Git mirror was last seen on upstream's head",
      registers,
      collect() {
        this.reset();
        const mirror = mirrorHealth(snapshot() ?? {});
        if (mirror) this.set(mirror.ageSeconds);
      },
    });
    new Gauge({
      name: 'cutover_mirror_degraded',
      help: '1 while the Git mirror is older than guard.mirrorMaxAgeSeconds (the Sovereign is degraded)',
      registers,
      collect() {
        this.reset();
        const mirror = mirrorHealth(snapshot() ?? {});
        if (mirror) this.set(mirror.degraded ? 1 : 0);
      },
    });
    new Gauge({
      name: 'cutover_pins_pending',
      help: "Artifacts the Git mirror's head pins that the local Harbor cannot serve (absent before the first look)",
      registers,
      collect() {
        this.reset();
        const pins = pinStatus(snapshot() ?? {});
        if (pins) this.set(pins.pendingCount);
      },
    });
    new Gauge({
      name: 'cutover_tethers',
      help: 'References in the cluster by state (tethered, unmapped, pivoted, exempt), as the last inventory counted them',
      labelNames: ['state'],
      registers,
      collect() {
        this.reset();
        const summary = tethers();
        if (summary)
          for (const state of ['tethered', 'unmapped', 'pivoted', 'exempt'] as const)
            this.set({ state }, summary[state]);
      },
    });
    // The condition to alert on (ADR 0018): 1 when sovereign with the mirror keeping up and Flux on its head.
    new Gauge({
      name: 'cutover_sovereign_ready',
      help: 'The Sovereign condition: 1 when true; the reason label says why not (Tethered, CutoverFailed, MirrorDegraded, AwaitingApproval, RevisionHeld)',
      labelNames: ['reason'],
      registers,
      collect() {
        this.reset();
        const data = snapshot();
        if (!data) return;
        const condition = sovereignCondition(data);
        this.set({ reason: condition.reason }, condition.status === 'True' ? 1 : 0);
      },
    });
    new Gauge({
      name: 'cutover_intake_window_open',
      help: '1 while an approved delivery window (intake.mode request) is open',
      registers,
      collect() {
        this.set(intakeWindow(snapshot() ?? {})?.outcome === 'open' ? 1 : 0);
      },
    });
    new Gauge({
      name: 'cutover_intake_window_copied',
      help: 'Artifacts copied into the local Harbor by the last delivery window (absent before the first)',
      registers,
      collect() {
        this.reset();
        const window = intakeWindow(snapshot() ?? {});
        if (window) this.set(window.copiedCount);
      },
    });
    new Gauge({
      name: 'cutover_engine_running',
      help: '1 while the status says a run or a rollback is under way (the controller runs it)',
      registers,
      collect() {
        const data = snapshot() ?? {};
        this.set(data.rollbackResult === 'running' || (data.currentStep && !data.failedStep) ? 1 : 0);
      },
    });
    this.requests = new Counter({
      name: 'cutover_http_requests_total',
      help: 'HTTP requests by route and status code',
      labelNames: ['route', 'code'],
      registers,
    });
  }
}
