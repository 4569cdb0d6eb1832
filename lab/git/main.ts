// Process entry of the upstream Git peer: `node lab/git/main.ts <projectRoot> <port> [<cert> <key>]`.
import { serveGit } from './http-backend.ts';

const [root, port, cert, key] = process.argv.slice(2);
if (!root || !port) {
  console.error('usage: node lab/git/main.ts <projectRoot> <port> [<cert> <key>]');
  process.exit(2);
}
await serveGit(root, Number(port), cert && key ? { cert, key } : undefined);
console.log(`upstream git serving ${root} on ${cert ? 'https' : 'http'}://127.0.0.1:${port}`);
process.on('SIGTERM', () => process.exit(0));
