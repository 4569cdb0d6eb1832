// Process entry of the upstream Git peer: `node lab/git/main.ts <projectRoot> <port>`.
import { serveGit } from './http-backend.ts';

const [root, port] = process.argv.slice(2);
if (!root || !port) {
  console.error('usage: node lab/git/main.ts <projectRoot> <port>');
  process.exit(2);
}
await serveGit(root, Number(port));
console.log(`upstream git serving ${root} on http://127.0.0.1:${port}`);
process.on('SIGTERM', () => process.exit(0));
