// The inventory the controller writes for the API (ADR 0021) fits one ConfigMap: every row when it
// fits; else the rows still tethered first, the summary whole, and how many rows were left out.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { gunzipSync } from 'node:zlib';
import { test } from 'node:test';
import { PACKED_MAX_BYTES } from '../../src/adapters/kube/packed-config-map.ts';
import { packTethers, type TetherSnapshot } from '../../src/http/cutover-control.ts';
import type { Tether } from '../../src/core/tether.ts';

const row = (i: number, state: Tether['state'], field: string): Tether => ({
  kind: 'image',
  object: `Pod ns/p-${i}`,
  field,
  upstream: 'ghcr.io',
  local: '',
  state,
});
const summary = { tethered: 1, unmapped: 0, exempt: 0, pivoted: 0, unreadable: [] } as TetherSnapshot['summary'];
const unpack = (packed: Buffer) => JSON.parse(gunzipSync(packed).toString('utf8')) as TetherSnapshot;

test('a small inventory is kept whole', () => {
  const snapshot = { takenAt: '2026-11-30T00:00:00Z', summary, tethers: [row(1, 'tethered', 'x')] };
  assert.deepEqual(unpack(packTethers(snapshot)), snapshot);
});

test('one too large for a ConfigMap keeps the rows still tethered, the summary whole, and counts what it left out', () => {
  // Random fields do not compress: ~2.5 MB of them cannot fit 1 MB however gzipped.
  const tethers = Array.from({ length: 5000 }, (_, i) =>
    row(i, i < 10 ? 'tethered' : 'pivoted', randomBytes(250).toString('hex')),
  ).reverse();
  const packed = packTethers({ takenAt: '2026-11-30T00:00:00Z', summary, tethers });
  assert.ok(packed.length <= PACKED_MAX_BYTES, `${packed.length} bytes`);
  const back = unpack(packed);
  assert.deepEqual(back.summary, summary);
  assert.ok(back.omitted && back.omitted > 0 && back.omitted + back.tethers.length === 5000);
  assert.equal(back.tethers.filter((t) => t.state === 'tethered').length, 10, 'every tethered row kept');
});
