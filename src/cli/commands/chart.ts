// `cutover chart --out DIR [-f values.yaml]`: the Helm chart of the install (ADR 0023), written whole.
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { generateChart, type ChartFiles } from '../../render/chart.ts';
import { VALUES_EXAMPLE } from '../values-example.ts';
import { loadValues } from './run.ts';

export function chartCommand(options: { values?: string; out: string; version: string }): void {
  // Validated (with the original's keys adopted and warned about) before anything is written.
  if (options.values) loadValues(options.values);
  const text = options.values ? readFileSync(options.values, 'utf8') : VALUES_EXAMPLE;
  const { files, roles } = generateChart(text, options.version);
  writeChart(files, options.out);
  const count = (role: string) => roles.filter((r) => r.role === role).length;
  process.stderr.write(
    `chart ${options.out}: ${Object.keys(files).length} files; values keys: ${count('runtime')} runtime, ${count('template')} templated, ${count('pinned')} pinned (${roles
      .filter((r) => r.role === 'pinned')
      .map((r) => r.path.join('.'))
      .join(', ')})\n`,
  );
}

/** Writes a generated chart into `dir`; its templates are replaced whole (none left from an older chart). */
export function writeChart(files: ChartFiles, dir: string): void {
  rmSync(join(dir, 'templates'), { recursive: true, force: true });
  for (const [path, content] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, path)), { recursive: true });
    writeFileSync(join(dir, path), content);
  }
}
