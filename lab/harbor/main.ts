// Process entry of one Harbor double: `node lab/harbor/main.ts <config.json>`.
import { runConfiguredDaemon } from '../processes.ts';
import { HarborDouble, type HarborDoubleConfig } from './server.ts';

await runConfiguredDaemon<HarborDoubleConfig>('lab/harbor/main.ts', async (config) => {
  const double = new HarborDouble(config);
  await double.start();
  console.log(`harbor double ${double.config.name} listening on ${double.externalUrl}`);
  return double;
});
