// `npm pack`'s build (prepack): the CLI compiled to JavaScript under dist/ — Node refuses to strip
// types from files under node_modules, so an installed package cannot run the .ts sources — with
// relative imports rewritten to .js, and the console's static files beside the routes that serve them.
import { cpSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { execFileSync, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
rmSync(`${root}/dist`, { recursive: true, force: true });
execFileSync(process.execPath, [`${root}/node_modules/typescript/bin/tsc`, '-p', `${root}/tsconfig.build.json`], {
  stdio: 'inherit',
});
cpSync(`${root}/src/http/console`, `${root}/dist/src/http/console`, { recursive: true });
// `cutover version` names the commit it was built from (tsc copied package.json for the version import).
const git = spawnSync('git', ['rev-parse', '--short=12', 'HEAD'], { cwd: root, encoding: 'utf8' });
const manifest = JSON.parse(readFileSync(`${root}/dist/package.json`, 'utf8')) as Record<string, unknown>;
writeFileSync(
  `${root}/dist/package.json`,
  JSON.stringify({ ...manifest, commit: git.status === 0 ? git.stdout.trim() : 'unknown' }, null, 2),
);
console.error('built dist/ (tsc + the console assets)');
