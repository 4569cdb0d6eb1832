// `cutover completion bash|zsh` in the real shells (the lab installs zsh): bash is driven the way
// readline drives it (COMP_WORDS, COMP_CWORD, the function `complete -F` names); zsh loads the script
// from $fpath through compinit and must register it for `cutover`.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';

const cli = new URL('../src/cli/main.ts', import.meta.url).pathname;
const script = (shell: string) => {
  const r = spawnSync(process.execPath, [cli, 'completion', shell], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return r.stdout;
};

/** What bash offers after `words` (the last one is being typed). */
function bashOffers(words: string[]): string[] {
  const dir = mkdtempSync(join(tmpdir(), 'completion-'));
  try {
    const file = join(dir, 'cutover.bash');
    writeFileSync(file, script('bash'));
    const array = words.map((w) => `'${w}'`).join(' ');
    const r = spawnSync(
      'bash',
      [
        '-c',
        `source ${file}; COMP_WORDS=(${array}); COMP_CWORD=${words.length - 1}; _cutover; printf '%s\\n' "\${COMPREPLY[@]}"`,
      ],
      { encoding: 'utf8' },
    );
    assert.equal(r.status, 0, r.stderr);
    return r.stdout.split('\n').filter(Boolean);
  } finally {
    rmSync(dir, { recursive: true });
  }
}

test('bash: commands, a command’s own options, the values an option takes, and files where it takes a path', () => {
  assert.deepEqual(bashOffers(['cutover', 'st']).sort(), ['status', 'step']);
  assert.deepEqual(bashOffers(['cutover', 'status', '-o', '']), ['table', 'json', 'yaml']);
  assert.deepEqual(bashOffers(['cutover', 'tethers', '--a']), ['--all']);
  assert.ok(!bashOffers(['cutover', 'status', '--']).includes('--all'), 'status does not take --all');
  assert.deepEqual(bashOffers(['cutover', 'serve', '--role', '']), ['all', 'api', 'controller']);
  assert.deepEqual(bashOffers(['cutover', 'completion', '']), ['bash', 'zsh']);
  assert.ok(bashOffers(['cutover', 'run', '-f', '/e']).includes('/etc'), 'a path after -f');
  assert.deepEqual(bashOffers(['cutover', 'help', 'rol']), ['rollback']);
});

test('zsh: the script parses, and compinit registers it for cutover from $fpath', () => {
  const dir = mkdtempSync(join(tmpdir(), 'completion-'));
  try {
    writeFileSync(join(dir, '_cutover'), script('zsh'));
    const parse = spawnSync('zsh', ['-n', join(dir, '_cutover')], { encoding: 'utf8' });
    assert.equal(parse.status, 0, parse.stderr);
    const r = spawnSync(
      'zsh',
      [
        '-fc',
        `fpath=(${dir} $fpath); autoload -U compinit; compinit -u -d ${join(dir, 'zcompdump')}; print -r -- $_comps[cutover]`,
      ],
      { encoding: 'utf8' },
    );
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout.trim(), '_cutover');
  } finally {
    rmSync(dir, { recursive: true });
  }
});
