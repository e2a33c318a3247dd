import { UsageError, throwIfAborted } from '../errors.js';
import type { Command } from './command.js';
import { openRepository, withLock } from './global.js';
import { Out } from '../ui/output.js';
import { snapshotFilter, snapshotFilterOptions, verbose, warn } from './read-common.js';
import { bstrFromText, bstrText } from '../go/bytestring.js';
import { findFilteredSnapshots, goList } from '../walker/select.js';
import { type ListOptions, listNodes } from '../walker/ls.js';
import { NcduWriter } from '../ui/ncdu.js';
import type { Repository } from '../repository/repository.js';
import { formatNodeLine, lsNodeJson } from '../ui/format.js';
import { goTimeString } from '../go/time.js';
import { type Snapshot, snapshotJsonWithId } from '../format/snapshot.js';

/** `ls --ncdu`: the whole listing in ncdu's export format. */
async function listNcdu(repo: Repository, snapshot: Snapshot, opts: ListOptions, write: (s: string) => Promise<void>): Promise<void> {
  if (!snapshot.tree) throw new UsageError('snapshot has no tree');
  const w = new NcduWriter(write);
  await w.start(snapshot);
  await listNodes(repo, snapshot.tree, opts, (p, node) => w.node(bstrText(p), node));
  await w.finish();
}

export const lsCommand: Command = {
  name: 'ls',
  summary: 'List files in a snapshot',
  usage: 'restic-ts ls [flags] snapshotID [dir...]',
  options: [
    { name: 'long', short: 'l', kind: 'bool', help: 'use a long listing format showing size and mode' },
    ...snapshotFilterOptions(', when snapshot ID "latest" is given'),
    { name: 'recursive', kind: 'bool', help: 'include files in subfolders of the listed directories' },
    { name: 'ncdu', kind: 'bool', help: "output NCDU export format (pipe into 'ncdu -f -')" },
  ],
  async run(ctx, args) {
    if (args.length === 0) throw new UsageError("no snapshot ID specified, specify snapshot ID or use special ID 'latest'");
    const dirs = args.slice(1);
    if (dirs.some((d) => !d.startsWith('/'))) throw new UsageError("All path filters must be absolute, starting with a forward slash '/'");
    const ncdu = !!ctx.opts['ncdu'];
    if (ncdu && ctx.json) throw new UsageError("only either '--json' or '--ncdu' can be specified");
    const long = !!ctx.opts['long'];
    const recursive = !!ctx.opts['recursive'];
    const repo = await openRepository(ctx);
    const out = new Out();
    try {
      await withLock(ctx, repo, false, async () => {
        await repo.loadIndex();
        // restic 0.14 reports a snapshot it cannot find as a warning and exits 0
        for (const { id, snapshot } of await findFilteredSnapshots(repo, snapshotFilter(ctx), [args[0]!], (m) => warn(ctx, m))) {
          if (ncdu) {
            await listNcdu(repo, snapshot, { dirs: dirs.map(bstrFromText), recursive }, (s) => out.text(s));
            continue;
          }
          if (ctx.json) await out.text(snapshotJsonWithId(snapshot, id, ',"struct_type":"snapshot"') + '\n');
          else if (verbose(ctx))
            await out.text(
              `snapshot ${id.slice(0, 8)} of ${goList(snapshot.paths)} filtered by ${goList(dirs)} at ${goTimeString(snapshot.time)}):\n`,
            );
          if (!snapshot.tree) throw new UsageError(`snapshot ${id.slice(0, 8)} has no tree`);
          await listNodes(repo, snapshot.tree, { dirs: dirs.map(bstrFromText), recursive }, async (p, node) => {
            throwIfAborted(ctx.signal, 'ls');
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
