// `cutover tethers`: the tether inventory of the live cluster — every reference to an upstream
// host, where it is, where it should point, and whether it already does.
import { takeInventory } from '../../composition.ts';
import { CutoverError } from '../../core/errors.ts';
import type { Tether, TetherSummary } from '../../inventory/tethers.ts';
import { installTarget } from './run.ts';
import { printDocument } from '../output.ts';

export interface TethersOptions {
  values?: string | undefined;
  kubeconfig?: string | undefined;
  context?: string | undefined;
  namespace: string;
  output: string;
  all: boolean;
}

export async function tethersCommand(options: TethersOptions): Promise<void> {
  const { values, cluster } = await installTarget(options);
  const { tethers, summary } = await takeInventory(cluster, values, options.namespace, true);
  const shown = options.all ? tethers : tethers.filter((t) => t.state !== 'pivoted');
  if (!printDocument(options.output, { summary, tethers: shown })) printTable(shown, summary, options.all);
  // A source the inventory could not read may hold tethers: the list is printed, but it is not the whole truth.
  if (summary.unreadable.length)
    throw new CutoverError(
      'inventory-incomplete',
      `the inventory is incomplete; could not read: ${summary.unreadable.join('; ')}`,
    );
}

function printTable(shown: Tether[], summary: TetherSummary, all: boolean): void {
  const rows = [
    ['STATE', 'KIND', 'OBJECT', 'OWNER (PIVOT KEPT BY)', 'FIELD', 'UPSTREAM', 'LOCAL'],
    ...shown.map((t) => [
      t.state,
      t.kind,
      t.object,
      `${t.owner ?? '-'}${t.durability ? ` (${t.durability})` : ''}`,
      t.field,
      `${t.upstream}${t.digest ? `@${t.digest.slice(0, 19)}` : ''}`,
      t.state === 'exempt' ? `(exempt: ${t.reason})` : t.local || '-',
    ]),
  ];
  const widths = rows[0]!.map((_, i) => Math.min(60, Math.max(...rows.map((r) => (r[i] ?? '').length))));
  for (const r of rows)
    console.log(r.map((cell, i) => (i === r.length - 1 ? cell : cell.padEnd(widths[i] ?? 0))).join('  '));
  console.log(
    `\n${summary.tethered} tethered, ${summary.unmapped} unmapped (no host row), ${summary.exempt} exempt, ${summary.pivoted} pivoted${all ? '' : ' (not listed; --all lists them)'}`,
  );
}
