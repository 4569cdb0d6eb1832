// The README's privilege table is the one the install renders (for the default values, install
// namespace `cutover`): it cannot drift from the RBAC. The in-cluster test holds each identity's
// SelfSubjectRulesReview against the same rows.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { parseValues } from '../../src/core/values.ts';
import { privilegeRows, privilegeTable } from '../../src/render/privileges.ts';

const START = '<!-- privilege-table:start (generated from src/render/privileges.ts; the unit test keeps it equal) -->';
const END = '<!-- privilege-table:end -->';

test("the README's privilege table is the rendered RBAC of the default values", () => {
  const values = parseValues(`
sovereign: { harborInternalURL: 'http://harbor.harbor', harborPublicURL: 'https://harbor.example', giteaInternalURL: 'http://gitea.gitea' }
upstream: { repoURL: 'https://github.com/openova-io/openova.git' }
`);
  const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
  const start = readme.indexOf(START);
  const end = readme.indexOf(END);
  assert.ok(start > 0 && end > start, 'the README has the table between its markers');
  const shown = readme
    .slice(start + START.length, end)
    .trim()
    .replace(/ +\|/g, ' |')
    .replace(/\| -+/g, '| ---')
    .replace(/ {2,}/g, ' ');
  const rendered = privilegeTable(privilegeRows(values, 'cutover'));
  assert.equal(shown, rendered.replace(/ {2,}/g, ' '));
});
