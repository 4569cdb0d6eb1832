// `cutover render -f values.yaml`: the dormant install on stdout.
import { readFileSync } from 'node:fs';
import { renderYaml } from '../../render/render.ts';
import { loadValues, trustingAsValuesSay } from './run.ts';

export function renderCommand(options: {
  values: string;
  namespace: string;
  namespaceObject: boolean;
  version: string;
  blueprint: boolean;
}): void {
  // The inline CA bundles are checked (and a skipped verification said) here, not first in the cluster.
  const values = trustingAsValuesSay(loadValues(options.values));
  process.stdout.write(
    renderYaml(values, {
      namespace: options.namespace,
      namespaceObject: options.namespaceObject,
      valuesText: readFileSync(options.values, 'utf8'),
      version: options.version,
      blueprint: options.blueprint,
    }),
  );
}
