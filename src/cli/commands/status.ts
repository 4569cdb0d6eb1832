// `cutover status`: the status ConfigMap, as a table or as the API's JSON.
import { connectCluster, statusConfigMap } from '../../composition.ts';
import { statusReport } from '../../core/status.ts';
import { windowSummary } from '../../core/intake-window.ts';
import { printDocument } from '../output.ts';

export async function statusCommand(options: {
  kubeconfig?: string | undefined;
  context?: string | undefined;
  namespace: string;
  configMap: string;
  output: string;
  /** Print again on every change, until interrupted (kubectl's --watch). */
  watch?: boolean;
}): Promise<void> {
  const store = statusConfigMap(
    connectCluster(options.kubeconfig, options.context),
    options.namespace,
    options.configMap,
  );
  if (!options.watch) return printReport(statusReport((await store.read()) ?? {}), options.output);
  const stop = new AbortController();
  for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => stop.abort());
  let shown = '';
  while (!stop.signal.aborted) {
    const status = await store.readVersioned();
    if (status && status.version !== shown) {
      // Between two reports: a time rule in a table, a document separator in YAML (JSON: one object after another).
      if (shown && options.output === 'table') console.log(`--- ${new Date().toISOString()}`);
      if (shown && options.output === 'yaml') console.log('---');
      printReport(statusReport(status.data), options.output);
      shown = status.version;
    }
    // One watch from the version shown: nothing written since is missed.
    await store.waitForChange(shown, { signal: stop.signal, timeoutMs: 300_000 });
  }
}

function printReport(report: ReturnType<typeof statusReport>, output: string): void {
  if (printDocument(output, report)) return;
  console.log(
    `state: ${report.state}   progress: ${report.progressPercent}%   registriesYamlActive: ${report.registriesYamlActive}`,
  );
  for (const s of report.steps) {
    const recheck = s.repairedAt
      ? `   repaired ${s.repairedAt} (drifted: ${s.drift ?? '?'})`
      : s.recheckedAt
        ? `   re-verified ${s.recheckedAt}`
        : '';
    console.log(`  ${(s.result || '-').padEnd(8)} ${s.name}${recheck}`);
  }
  if (report.failedStep) console.log(`failed: ${report.failedStep}: ${report.lastError ?? ''}`);
  if (report.request?.pending) console.log(`${report.request.pending}: waiting for the controller to take it`);
  if (report.request?.error) console.log(`last request: ${report.request.error}`);
  if (report.aborted) console.log(`aborted by ${report.aborted.by} at ${report.aborted.at} (start it again to resume)`);
  if (report.rollback)
    console.log(
      `rollback ${report.rollback.result} by ${report.rollback.by}, started ${report.rollback.startedAt}${report.rollback.finishedAt ? `, finished ${report.rollback.finishedAt}` : ''}${report.rollback.changes !== undefined ? ` (${report.rollback.changes} change(s) undone)` : ''}`,
    );
  if (report.mirror) console.log(report.mirror.summary);
  if (report.pins) {
    console.log(
      `pins of ${report.pins.revision.slice(0, 12)}: ${report.pins.total}, ${report.pins.pendingCount} not servable from the local Harbor; Flux held at ${report.pins.verifiedRevision.slice(0, 12) || '(not yet)'}`,
    );
    for (const p of report.pins.pending) console.log(`  ${p.ref} (${p.foundIn}): ${p.reason}`);
  }
  if (report.intakeWindow) console.log(windowSummary(report.intakeWindow));
  console.log(
    `condition Sovereign=${report.condition.status} (${report.condition.reason})${report.condition.status === 'True' ? '' : `: ${report.condition.message}`}`,
  );
  if (report.tlsUnverifiedHosts)
    console.log(
      `WARNING: TLS verification is OFF for ${report.tlsUnverifiedHosts.join(', ')} (tls.hosts[].insecureSkipVerify)`,
    );
}
