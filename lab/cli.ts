// `npm run lab -- up | down | status | cut-upstream | restore-upstream`
import { parseArgs } from 'node:util';
import type { CorpusSize } from './corpus/spec.ts';
import { cutUpstream, down, resetSovereign, restoreUpstream, status, up } from './lab.ts';
import { ENDPOINTS_FILE } from './topology.ts';
import { trustPeersCa } from './peers-pki.ts';

const HELP = `Usage: npm run lab -- <command> [--corpus small|bench]

The lab is a tethered Sovereign made of real peers on a network of its own (state in .lab/):
three upstream registries (ghcr.io, docker.io, quay.io stand-ins, Debian docker-registry),
upstream Git (git http-backend), a mothership Harbor and a local Harbor (API doubles over
docker-registry; the local one on HTTPS with the Sovereign's private CA, .lab/pki-peers/ca.crt),
and two nodes (Debian containerd) tethered to the mothership.

Commands:
  up                 start every peer, seed the corpus, write ${ENDPOINTS_FILE} (idempotent)
  down               stop every peer (state is kept)
  status             show each peer and whether it answers
  cut-upstream       make every upstream peer unreachable (registries, Git, mothership)
  restore-upstream   bring the upstream peers back
  reset              put the Sovereign back to tethered after a cutover ran on the lab

Options:
  --corpus small|bench   corpus size for up: small (tests, default) or bench (~500 MB unique)
`;

const { positionals, values } = parseArgs({
  allowPositionals: true,
  options: { corpus: { type: 'string', default: 'small' }, help: { type: 'boolean', short: 'h' } },
});
const command = positionals[0];
const log = (line: string): void => console.log(line);

try {
  if (values.help || !command) {
    console.log(HELP);
    process.exit(command || values.help ? 0 : 2);
  }
  if (values.corpus !== 'small' && values.corpus !== 'bench')
    throw new Error(`--corpus must be small or bench, not "${values.corpus}"`);
  // The local Harbor serves HTTPS on the Sovereign's private CA: the lab's own checks trust it.
  trustPeersCa();
  switch (command) {
    case 'up':
      await up(log, values.corpus as CorpusSize);
      break;
    case 'down':
      await down(log);
      break;
    case 'status': {
      const peers = await status();
      for (const p of peers)
        console.log(`${p.up ? 'up  ' : 'DOWN'}  ${p.role.padEnd(8)}  ${p.peer.padEnd(42)}  ${p.url}`);
      process.exitCode = peers.every((p) => p.up) ? 0 : 1;
      break;
    }
    case 'cut-upstream':
      await cutUpstream(log);
      break;
    case 'restore-upstream':
      await restoreUpstream(log);
      break;
    case 'reset':
      await resetSovereign(log);
      break;
    default:
      console.error(`unknown command "${command}"\n\n${HELP}`);
      process.exit(2);
  }
} catch (error) {
  console.error(`lab ${command}: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
}
