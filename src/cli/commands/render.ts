// `cutover render -f values.yaml`: the dormant install on stdout.
import { readFileSync } from 'node:fs';
import { renderYaml } from '../../render/render.ts';
import { loadValues } from './run.ts';

export function renderCommand(options: { values: string; namespace: string; version: string }): void {
  const values = loadValues(options.values);
  process.stdout.write(
    renderYaml(values, {
      namespace: options.namespace,
      valuesText: readFileSync(options.values, 'utf8'),
      version: options.version,
    }),
  );
}
