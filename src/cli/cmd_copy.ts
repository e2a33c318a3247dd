/** `copy`: copy snapshots from --from-repo into the repository given by -r (restic 0.14). */
import type { Repository } from '../repository/repository.js';
import type { Command } from './command.js';
import { lockOptions, openRepository } from './global.js';
import { logLine, snapshotSelector, warn } from './read-common.js';
import { copySnapshots } from '../copy/copy.js';
import { ProgressCounter } from '../ui/progress.js';
import { secondaryRepoOptions, secondaryContext } from './secondary-repo.js';

export const copyCommand: Command = {
  name: 'copy',
  summary: 'Copy snapshots from one repository to another',
  usage: 'restic-ts copy [flags] [snapshotID ...]',
  options: [
    ...secondaryRepoOptions('to copy snapshots from'),
    {
      name: 'host',
      short: 'H',
      kind: 'list',
      help: 'only consider snapshots for this host, when no snapshot ID is given (can be specified multiple times)',
    },
    { name: 'tag', kind: 'list', help: 'only consider snapshots which include this taglist, when no snapshot ID is given' },
    { name: 'path', kind: 'list', help: 'only consider snapshots which include this (absolute) path, when no snapshot ID is given' },
  ],
  async run(ctx, args) {
    const secondary = secondaryContext(ctx);
    // with --from-repo the secondary repository is the source; with --repo2 the destination
    const [srcCtx, dstCtx] = secondary.isFromRepo ? [secondary.ctx, ctx] : [ctx, secondary.ctx];
    const filter = snapshotSelector(ctx);
    const src = await openRepository(srcCtx);
    let dst: Repository | null = null;
    const releases: Array<() => Promise<void>> = [];
    try {
      dst = await openRepository(dstCtx);
      if (!ctx.opts['no-lock']) releases.push(await src.lock(false, lockOptions(ctx)));
      releases.push(await dst.lock(false, lockOptions(ctx)));
      const say = logLine(ctx);
      const counter = new ProgressCounter(ctx.stdout, !ctx.json && !ctx.quiet);
      await copySnapshots(src, dst, {
        signal: ctx.signal,
        filter,
        ids: args,
        log: (l) => {
          counter.end();
          say(l);
        },
        warn: (line) => warn(ctx, line),
        onProgress: (done, total) => counter.update(done, total, 'packs copied'),
      });
      counter.end();
    } finally {
      for (const release of releases.reverse()) await release();
      await dst?.close();
      await src.close();
    }
    return 0;
  },
};
