// `cutover status`: the status ConfigMap, as a table or JSON.
import { KubeCluster } from '../../adapters/kube/cluster.ts';
import { cutoverState, STEP_IDS, stepKey } from '../../core/status.ts';
import { StatusStore } from '../../engine/status-store.ts';

export async function statusCommand(options: { kubeconfig?: string | undefined; namespace: string; configMap: string; output: string }): Promise<void> {
  const store = new StatusStore(KubeCluster.connect(options.kubeconfig), options.namespace, options.configMap);
  const data = (await store.read()) ?? {};
  const steps = STEP_IDS.map((id) => ({
    name: id,
    result: data[stepKey(id, 'result')] ?? '',
    startedAt: data[stepKey(id, 'startedAt')] ?? '',
    finishedAt: data[stepKey(id, 'finishedAt')] ?? '',
    jobName: data[stepKey(id, 'jobName')] ?? '',
  }));
  const report = { state: cutoverState(data), cutoverComplete: data.cutoverComplete === 'true', currentStep: data.currentStep ?? '', progressPercent: Number(data.progressPercent ?? 0), failedStep: data.failedStep ?? '', lastError: data.lastError ?? '', registriesYamlActive: data.registriesYamlActive ?? 'v1', steps };
  if (options.output === 'json') {
    console.log(JSON.stringify(report, null, 2));
    return;
  }
  console.log(`state: ${report.state}   progress: ${report.progressPercent}%   registriesYamlActive: ${report.registriesYamlActive}`);
  for (const s of steps) console.log(`  ${(s.result || '-').padEnd(8)} ${s.name}`);
  if (report.failedStep) console.log(`failed: ${report.failedStep}: ${report.lastError}`);
}
