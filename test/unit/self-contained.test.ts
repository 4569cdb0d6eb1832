// A user clones this repository alone: nothing tracked may read, link or require the workspace's
// shared folder (the specs and reference documents are vendored under specs/ and docs/).
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { REPO_ROOT } from '../../lab/topology.ts';

// Spelled in two parts so this file does not name what it looks for.
const SHARED = ['..', 'shared'].join('/');

test('no tracked file references the shared folder outside the repository', () => {
  const files = execFileSync('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], {
    cwd: REPO_ROOT,
  })
    .toString()
    .split('\0')
    .filter(Boolean);
  assert.ok(files.length > 100, `git ls-files listed ${files.length} files`);
  const offenders = files.filter((file) => {
    try {
      return readFileSync(join(REPO_ROOT, file), 'utf8').includes(SHARED);
    } catch {
      return false; // deleted in the work tree
    }
  });
  assert.deepEqual(offenders, []);
});

test('the vendored specs are present with their licences', () => {
  for (const dir of ['harbor', 'gitea', 'flux']) {
    assert.match(readFileSync(join(REPO_ROOT, 'specs', dir, 'LICENSE'), 'utf8'), /License/);
  }
  assert.match(readFileSync(join(REPO_ROOT, 'specs', 'README.md'), 'utf8'), /harbor\/swagger\.yaml/);
});
