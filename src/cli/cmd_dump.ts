import { ResticError, UsageError, throwIfAborted } from '../errors.js';
import type { Command } from './command.js';
import { openRepository, withLock } from './global.js';
import { Out } from '../ui/output.js';
import { snapshotFilter, snapshotFilterOptions } from './read-common.js';
import { bstrFromText } from '../go/bytestring.js';
import { type FoundSnapshot, findLatestSnapshot, findSnapshotId, goList } from '../walker/select.js';
import { type ArchiveFormat, dumpPath } from '../dump/dump.js';

export const dumpCommand: Command = {
  name: 'dump',
  summary: 'Print a backed-up file to stdout',
  usage: 'restic-ts dump [flags] snapshotID file',
  options: [
    ...snapshotFilterOptions(' when the snapshot ID is "latest"'),
    { name: 'archive', short: 'a', kind: 'string', help: 'set archive format as "tar" or "zip" (default "tar")' },
  ],
  async run(ctx, args) {
    if (args.length !== 2) throw new UsageError('no file and no snapshot ID specified');
    const format = ((ctx.opts['archive'] as string | undefined) ?? 'tar') as ArchiveFormat;
    if (format !== 'tar' && format !== 'zip') throw new UsageError(`unknown archive format ${JSON.stringify(format)}`);
    const [spec, file] = args as [string, string];
    const filter = snapshotFilter(ctx);
    const repo = await openRepository(ctx);
    const out = new Out();
    try {
      await withLock(ctx, repo, false, async () => {
        let sn: FoundSnapshot;
        if (spec === 'latest') {
          try {
            sn = await findLatestSnapshot(repo, filter);
          } catch (err) {
            throw new UsageError(
              `latest snapshot for criteria not found: ${(err as Error).message} Paths:${goList(filter.paths)} Hosts:${goList(filter.hosts)}`,
            );
          }
        } else {
          try {
            const id = await findSnapshotId(repo, spec);
            sn = { id, snapshot: await repo.loadSnapshot(id) };
          } catch (err) {
            throw new UsageError(`invalid id ${JSON.stringify(spec)}: ${(err as Error).message}`);
          }
        }
        await repo.loadIndex();
        if (!sn.snapshot.tree) throw new UsageError(`loading tree for snapshot ${JSON.stringify(spec)} failed: snapshot has no tree`);
        try {
          await dumpPath(
            repo,
            sn.snapshot.tree,
            bstrFromText(file),
            (chunk) => {
              throwIfAborted(ctx.signal, 'dump');
              return out.bytes(chunk);
            },
            {
              format,
              beforeArchive: () => {
                if (process.stdout.isTTY) throw new UsageError('stdout is the terminal, please redirect output');
              },
            },
          );
        } catch (err) {
          throw new ResticError(`cannot dump file: ${(err as Error).message}`, { cause: err });
        }
      });
    } finally {
      await out.flush();
      await repo.close();
    }
    return 0;
  },
};
