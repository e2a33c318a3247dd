/** `generate`: shell completion files and man pages (restic ≥ 0.15's flags and words). */
import fs from 'node:fs';
import path from 'node:path';
import { UsageError } from '../errors.js';
import type { Command } from './command.js';
import { bashCompletion, fishCompletion, manPages, powershellCompletion, zshCompletion } from './generate-docs.js';

const SHELLS = [
  ['bash', bashCompletion],
  ['fish', fishCompletion],
  ['zsh', zshCompletion],
  ['powershell', powershellCompletion],
] as const;

export const generateCommand: Command = {
  name: 'generate',
  summary: 'Generate manual pages and auto-completion files (bash, fish, zsh, powershell)',
  usage: 'restic-ts generate [flags]',
  options: [
    { name: 'man', kind: 'string', help: 'write man pages to directory' },
    ...SHELLS.map(([shell]) => ({
      name: `${shell}-completion`,
      kind: 'string' as const,
      help: `write ${shell} completion file ("-" for stdout)`,
    })),
  ],
  async run(ctx, args) {
    if (args.length)
      throw new UsageError(
        'the generate command expects no arguments, only options - please see `restic-ts help generate` for usage and flags',
      );
    const files = SHELLS.map(([shell, make]) => [shell, ctx.opts[`${shell}-completion`] as string | undefined, make] as const);
    const manDir = ctx.opts['man'] as string | undefined;
    if (!manDir && files.every(([, f]) => !f)) throw new UsageError('nothing to do, please specify at least one output file/dir');
    if (files.filter(([, f]) => f === '-').length > 1)
      throw new UsageError('the generate command can generate shell completions to stdout for single shell only');
    const commands = await (ctx.commands?.() ?? Promise.resolve([]));
    if (manDir) {
      if (!ctx.quiet) ctx.stdout(`writing man pages to directory ${manDir}\n`);
      fs.mkdirSync(manDir, { recursive: true });
      for (const page of manPages(commands)) fs.writeFileSync(path.join(manDir, page.file), page.text);
    }
    for (const [shell, file, make] of files) {
      if (!file) continue;
      if (file === '-') ctx.stdout(make(commands));
      else {
        if (!ctx.quiet) ctx.stdout(`writing ${shell} completion file to ${file}\n`);
        fs.writeFileSync(file, make(commands));
      }
    }
    return 0;
  },
};
