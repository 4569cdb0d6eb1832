#!/usr/bin/env node
// `cutover` — the product's command line. Commands arrive with the issues that build them;
// this entry decides help, version, and the exit code for every failure, in one place.
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { CutoverError } from '../core/errors.ts';

const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string; description: string };

export const HELP = `cutover ${pkg.version} — ${pkg.description}

Usage:
  cutover --help       show this help
  cutover --version    print the version

A Sovereign is handed over still tethered: Flux pulls Git from GitHub and Helm charts from
oci://ghcr.io/…, and nodes pull images through a vendor Harbor. The cutover mirrors Git into the
cluster's own Gitea, fills its own Harbor with every artifact in use, pivots containerd on every
node and every Flux source, then proves the cluster keeps working with upstream egress blocked.

Try it on the embedded lab:  npm run demo
Run the tests:               npm test
`;

/** Exit codes: 0 ok, 1 the cutover or a peer failed, 2 bad usage or bad input. */
export function exitCodeFor(error: unknown): number {
  if (error instanceof CutoverError && (error.code === 'usage' || error.code === 'invalid-values')) return 2;
  if (error instanceof TypeError && 'code' in error && String(error.code).startsWith('ERR_PARSE_ARGS')) return 2;
  return 1;
}

function main(argv: string[]): void {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    strict: true,
    options: { help: { type: 'boolean', short: 'h' }, version: { type: 'boolean', short: 'v' } },
  });
  if (values.version) {
    console.log(pkg.version);
    return;
  }
  if (values.help || positionals.length === 0) {
    console.log(HELP);
    return;
  }
  throw new CutoverError('usage', `unknown command "${positionals[0]}" (see cutover --help)`);
}

try {
  main(process.argv.slice(2));
} catch (error) {
  const message = error instanceof Error ? error.message : String(error);
  console.error(`cutover: ${message}`);
  process.exitCode = exitCodeFor(error);
}
