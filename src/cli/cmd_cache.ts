import fs from 'node:fs/promises';
import { UsageError } from '../errors.js';
import type { Command } from './command.js';
import { type GlobalContext, cacheBase } from './global.js';
import { dirSize, isOld, listCacheDirs, oldCacheDirs } from '../cache/dir.js';
import { resticFormatBytes } from '../ui/format.js';

/** restic's `cache`: list the cache directories (one per repository), or remove old ones. */
export const cacheCommand: Command = {
  name: 'cache',
  summary: 'Operate on local cache directories',
  usage: 'restic-ts cache [flags]',
  options: [
    { name: 'cleanup', kind: 'bool', help: 'remove old cache directories' },
    { name: 'max-age', kind: 'string', help: 'max age in days for cache directories to be considered old (default 30)' },
    { name: 'no-size', kind: 'bool', help: 'do not output the size of the cache directories' },
  ],
  async run(ctx, args) {
    if (args.length) {
      throw new UsageError('the cache command expects no arguments, only options - please see `restic help cache` for usage and flags');
    }
    if (ctx.opts['no-cache']) throw new UsageError('Refusing to do anything, the cache is disabled');
    const maxAge = maxAgeDays(ctx);
    const base = cacheBase(ctx);
    if (ctx.opts['cleanup'] || ctx.opts['cleanup-cache']) return cleanup(ctx, base, maxAge);
    const dirs = await listCacheDirs(base);
    if (!dirs.length) {
      if (!ctx.quiet) ctx.stdout(`no cache dirs found, basedir is ${base}\n`);
      return 0;
    }
    const rows: string[][] = [];
    for (const d of dirs) {
      const days = Math.floor((Date.now() - d.mtime.getTime()) / 86_400_000);
      const row = [
        d.name.startsWith('restic-check-cache-') ? d.name : d.name.slice(0, 10),
        `${days} days ago`,
        isOld(d.mtime, maxAge) ? 'yes' : '',
      ];
      if (!ctx.opts['no-size']) row.push(resticFormatBytes(await dirSize(d.path)).padStart(11));
      rows.push(row);
    }
    const header = ['Repo ID', 'Last Used', 'Old', 'Size'].slice(0, rows[0]!.length);
    ctx.stdout(table(header, rows));
    if (!ctx.quiet) ctx.stdout(`${dirs.length} cache dirs in ${base}\n`);
    return 0;
  },
};

function maxAgeDays(ctx: GlobalContext): number {
  const v = ctx.opts['max-age'] as string | undefined;
  if (v === undefined) return 30;
  if (!/^[0-9]+$/.test(v))
    throw new UsageError(`invalid argument "${v}" for "--max-age" flag: strconv.ParseUint: parsing "${v}": invalid syntax`);
  return Number(v);
}

async function cleanup(ctx: GlobalContext, base: string, maxAge: number): Promise<number> {
  const old = await oldCacheDirs(base, maxAge);
  if (!old.length) {
    if (!ctx.quiet) ctx.stdout('no old cache dirs found\n');
    return 0;
  }
  if (!ctx.quiet) ctx.stdout(`remove ${old.length} old cache directories\n`);
  let failed = false;
  for (const d of old) {
    try {
      await fs.rm(d.path, { recursive: true, force: true });
    } catch (err) {
      failed = true;
      ctx.stderr(`unable to remove ${d.path}: ${(err as Error).message}\n`);
    }
  }
  return failed ? 1 : 0;
}

/** restic's ui/table: columns two spaces apart, dashes above and below the rows. */
function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (i < cells.length - 1 ? c.padEnd(widths[i]!) : c))
      .join('  ')
      .trimEnd();
  const rule = '-'.repeat(widths.reduce((a, w) => a + w, 0) + 2 * (widths.length - 1));
  return [line(header), rule, ...rows.map(line), rule, ''].join('\n');
}
