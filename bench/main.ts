// `npm run bench -- prewarm | memory | inventory | agents [options]`: benchmarks (never timed tests).
import { benchPeakMemory, benchPrewarm } from './prewarm.ts';

const [what, ...args] = process.argv.slice(2);
const usage = `usage: npm run bench -- prewarm [--rounds N] [--corpus bandwidth|fleet]
       npm run bench -- memory
       npm run bench -- inventory [--workloads 10000]
       npm run bench -- agents [--nodes 500] [--seconds 60]`;
switch (what) {
  case 'prewarm':
    await benchPrewarm(args);
    break;
  case 'memory':
    await benchPeakMemory();
    break;
  case 'inventory': {
    const { benchInventory } = await import('./inventory.ts');
    await benchInventory(args);
    break;
  }
  case 'agents': {
    const { benchAgents } = await import('./agents.ts');
    await benchAgents(args);
    break;
  }
  default:
    console.error(usage);
    process.exitCode = 2;
}
