// Process entry of the upstream Git peer: `node lab/git/main.ts <projectRoot> <address> <port> [<cert> <key>]`.
import { serveGit } from './http-backend.ts';

const [root, address, port, cert, key] = process.argv.slice(2);
if (!root || !address || !port) {
  console.error('usage: node lab/git/main.ts <projectRoot> <address> <port> [<cert> <key>]');
  process.exit(2);
}
await serveGit(root, address, Number(port), cert && key ? { cert, key } : undefined);
console.log(`upstream git serving ${root} on ${cert ? 'https' : 'http'}://${address}:${port}`);
process.on('SIGTERM', () => process.exit(0));
