// Process entry of the lab kubelet: `node lab/kubelet/main.ts <config.json>`.
import { readFileSync } from 'node:fs';
import { LabKubelet, type KubeletConfig } from './kubelet.ts';

const configPath = process.argv[2];
if (!configPath) {
  console.error('usage: node lab/kubelet/main.ts <config.json>');
  process.exit(2);
}
const kubelet = new LabKubelet(JSON.parse(readFileSync(configPath, 'utf8')) as KubeletConfig);
await kubelet.start();
console.log('lab kubelet running');
for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.on(signal, () => {
    kubelet.stop();
    process.exit(0);
  });
}
