/** `list`: the IDs of one kind of repository file, every indexed blob, or a snapshot's packs. */
import { UsageError } from '../errors.js';
import type { FileType } from '../backends/backend.js';
import type { Command } from './command.js';
import { type GlobalContext, openRepository, withLock } from './global.js';
import { decodeIndex } from '../format/index-file.js';
import { findUsedBlobs } from '../prune/used-blobs.js';
import type { Repository } from '../repository/repository.js';

const TYPES: Record<string, FileType> = { packs: 'pack', index: 'index', snapshots: 'snapshot', keys: 'key', locks: 'lock' };
const ALLOWED = 'blobs|packs|index|snapshots|keys|locks';

export const listCommand: Command = {
  name: 'list',
  summary: 'List objects in the repository',
  usage: `restic-ts list [flags] [${ALLOWED}] | packs snapshotID`,
  options: [],
  async run(ctx, args) {
    const [what, snapshot] = args;
    if (!what || (what === 'packs' && args.length > 2) || (what !== 'packs' && args.length !== 1))
      throw new UsageError(`too many parameters or type not specified. Must be one of [${ALLOWED}] or 'packs snapshotID'`);
    if (what !== 'blobs' && !TYPES[what]) throw new UsageError('invalid type');
    const repo = await openRepository(ctx);
    try {
      const work = () => list(ctx, repo, what, snapshot);
      // restic lists locks without taking one
      if (what === 'locks') await work();
      else await withLock(ctx, repo, false, work);
    } finally {
      await repo.close();
    }
    return 0;
  },
};

async function list(ctx: GlobalContext, repo: Repository, what: string, snapshot: string | undefined): Promise<void> {
  if (what === 'blobs') {
    // restic reads every index file: a blob indexed twice is listed twice
    for await (const id of repo.listIds('index')) {
      for (const pack of decodeIndex(await repo.loadUnpacked('index', id), id).packs)
        for (const b of pack.blobs) ctx.stdout(`${b.type} ${b.id}\n`);
    }
    return;
  }
  if (snapshot !== undefined) {
    const found = await repo.findSnapshot(snapshot).catch((err: Error) => {
      throw new UsageError(`failed to find snapshot: ${err.message}`);
    });
    await repo.loadIndex();
    const used = await findUsedBlobs(repo, repo.index, found.snapshot.tree ? [found.snapshot.tree] : []);
    const packs = new Set<string>();
    for (const key of used) for (const loc of repo.index.lookup(key[0] === 'd' ? 'data' : 'tree', key.slice(1))) packs.add(loc.packId);
    for (const p of [...packs].sort()) ctx.stdout(p + '\n');
    return;
  }
  for await (const id of repo.listIds(TYPES[what]!)) ctx.stdout(id + '\n');
}
