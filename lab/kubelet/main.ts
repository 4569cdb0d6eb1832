// Process entry of the lab kubelet: `node lab/kubelet/main.ts <config.json>`.
import { runConfiguredDaemon } from '../processes.ts';
import { LabKubelet, type KubeletConfig } from './kubelet.ts';

await runConfiguredDaemon<KubeletConfig>('lab/kubelet/main.ts', async (config) => {
  const kubelet = new LabKubelet(config);
  await kubelet.start();
  console.log('lab kubelet running');
  return kubelet;
});
