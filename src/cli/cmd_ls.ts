import { UsageError } from '../errors.js';
import type { Command } from './command.js';
import { openRepository, withLock } from './global.js';
import { Out } from '../ui/output.js';
import { snapshotFilter, snapshotFilterOptions, verbose, warn } from './read-common.js';
import { bstrFromText } from '../go/bytestring.js';
import { findFilteredSnapshots, goList } from '../walker/select.js';
import { listNodes } from '../walker/ls.js';
import { formatNodeLine, lsNodeJson } from '../ui/format.js';
import { goTimeString } from '../go/time.js';
import { snapshotJsonWithId } from '../format/snapshot.js';

export const lsCommand: Command = {
  name: 'ls',
  summary: 'List files in a snapshot',
  usage: 'restic-ts ls [flags] snapshotID [dir...]',
  options: [
    { name: 'long', short: 'l', kind: 'bool', help: 'use a long listing format showing size and mode' },
    ...snapshotFilterOptions(', when snapshot ID "latest" is given'),
    { name: 'recursive', kind: 'bool', help: 'include files in subfolders of the listed directories' },
  ],
  async run(ctx, args) {
    if (args.length === 0) throw new UsageError("no snapshot ID specified, specify snapshot ID or use special ID 'latest'");
    const dirs = args.slice(1);
    if (dirs.some((d) => !d.startsWith('/'))) throw new UsageError("All path filters must be absolute, starting with a forward slash '/'");
    const long = !!ctx.opts['long'];
    const recursive = !!ctx.opts['recursive'];
    const repo = await openRepository(ctx);
    const out = new Out();
    try {
      await withLock(ctx, repo, false, async () => {
        await repo.loadIndex();
        // restic 0.14 reports a snapshot it cannot find as a warning and exits 0
        for (const { id, snapshot } of await findFilteredSnapshots(repo, snapshotFilter(ctx), [args[0]!], (m) => warn(ctx, m))) {
          if (ctx.json) await out.text(snapshotJsonWithId(snapshot, id, ',"struct_type":"snapshot"') + '\n');
          else if (verbose(ctx))
            await out.text(
              `snapshot ${id.slice(0, 8)} of ${goList(snapshot.paths)} filtered by ${goList(dirs)} at ${goTimeString(snapshot.time)}):\n`,
            );
          if (!snapshot.tree) throw new UsageError(`snapshot ${id.slice(0, 8)} has no tree`);
          await listNodes(repo, snapshot.tree, { dirs: dirs.map(bstrFromText), recursive }, async (p, node) => {
            if (ctx.json) await out.text(lsNodeJson(p, node) + '\n');
            else await out.bstr(formatNodeLine(p, node, long) + '\n');
          });
        }
      });
    } finally {
      await out.flush();
      await repo.close();
    }
    return 0;
  },
};
