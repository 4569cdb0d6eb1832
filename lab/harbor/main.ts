// Process entry of one Harbor double: `node lab/harbor/main.ts <config.json>`.
import { readFileSync } from 'node:fs';
import { HarborDouble, type HarborDoubleConfig } from './server.ts';

const configPath = process.argv[2];
if (!configPath) {
  console.error('usage: node lab/harbor/main.ts <config.json>');
  process.exit(2);
}
const double = new HarborDouble(JSON.parse(readFileSync(configPath, 'utf8')) as HarborDoubleConfig);
await double.start();
console.log(`harbor double ${double.config.name} listening on ${double.externalUrl}`);
let stopping = false;
for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.on(signal, () => {
    if (stopping) return;
    stopping = true;
    double.stop().then(
      () => process.exit(0),
      (error: unknown) => {
        console.error(error);
        process.exit(1);
      },
    );
  });
}
