/**
 * `generate` (restic ≥ 0.15): completion scripts that the shells accept and that complete
 * our commands and flags, and man pages groff reads without warnings, one per command.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cli } from '../helpers/cli.js';
import { tempDir } from '../helpers/tmp.js';

let tmp: ReturnType<typeof tempDir>;
beforeAll(() => {
  tmp = tempDir('generate-');
});
afterAll(() => tmp.cleanup());

/** COMPREPLY of the bash completion for the words typed so far (the last one being completed). */
function bashComplete(script: string, words: string[]): string[] {
  const arr = words.map((w) => `'${w}'`).join(' ');
  const r = spawnSync(
    'bash',
    ['-c', `source '${script}'; COMP_WORDS=(${arr}); COMP_CWORD=${words.length - 1}; _restic_ts; printf '%s\\n' "\${COMPREPLY[@]}"`],
    {
      encoding: 'utf8',
    },
  );
  expect(r.status, r.stderr).toBe(0);
  return r.stdout.split('\n').filter(Boolean);
}

describe('generate', () => {
  it('writes completion files the shells accept', () => {
    const f = (n: string) => path.join(tmp.dir, n);
    const r = cli([
      'generate',
      '--bash-completion',
      f('c.bash'),
      '--zsh-completion',
      f('c.zsh'),
      '--fish-completion',
      f('c.fish'),
      '--powershell-completion',
      f('c.ps1'),
    ]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(`writing bash completion file to ${f('c.bash')}\n`);
    execFileSync('bash', ['-n', f('c.bash')]);
    expect(bashComplete(f('c.bash'), ['restic-ts', 're'])).toEqual(expect.arrayContaining(['restore', 'rewrite', 'recover', 'repair']));
    expect(bashComplete(f('c.bash'), ['restic-ts', '-r', '/repo', 'backup', '--files-from-r'])).toEqual(['--files-from-raw']);
    expect(bashComplete(f('c.bash'), ['restic-ts', 'restore', '--over'])).toEqual(['--overwrite']);
    expect(fs.readFileSync(f('c.zsh'), 'utf8')).toMatch(/^#compdef restic-ts\n/);
    expect(fs.readFileSync(f('c.fish'), 'utf8')).toContain(
      "complete -c restic-ts -n '__fish_seen_subcommand_from forget' -l unsafe-allow-remove-all",
    );
    expect(fs.readFileSync(f('c.ps1'), 'utf8')).toContain("'rewrite' = @(");
  });

  it('writes one man page per command that groff reads without warnings', () => {
    const dir = path.join(tmp.dir, 'man');
    expect(cli(['generate', '--man', dir]).code).toBe(0);
    const pages = fs.readdirSync(dir).sort();
    expect(pages).toEqual(expect.arrayContaining(['restic-ts.1', 'restic-ts-backup.1', 'restic-ts-rewrite.1', 'restic-ts-generate.1']));
    for (const p of pages) {
      const r = spawnSync('groff', ['-man', '-Tutf8', '-ww', '-z', path.join(dir, p)], { encoding: 'utf8' });
      expect(r.stderr, p).toBe('');
    }
    const text = spawnSync('groff', ['-man', '-Tascii', path.join(dir, 'restic-ts-backup.1')], { encoding: 'utf8' }).stdout.replace(
      /.\x08/g,
      '',
    ); // without overstriking
    expect(text).toContain('--dry-run');
  });

  it('writes to stdout for one shell only, and needs something to do', () => {
    const out = cli(['generate', '--bash-completion', '-']);
    expect(out.stdout).toMatch(/^# bash completion for restic-ts/);
    const two = cli(['generate', '--bash-completion', '-', '--zsh-completion', '-']);
    expect(two.stderr).toBe('Fatal: the generate command can generate shell completions to stdout for single shell only\n');
    expect(cli(['generate']).stderr).toBe('Fatal: nothing to do, please specify at least one output file/dir\n');
  });
});
