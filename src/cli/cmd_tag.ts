/** `tag`: add, remove or set tags of snapshots (restic 0.14's words and rules). */
import { UsageError } from '../errors.js';
import type { Command } from './command.js';
import { lockOptions, openRepository } from './global.js';
import { snapshotSelector, warn } from './read-common.js';
import { findFilteredSnapshots } from '../walker/select.js';
import { flattenTagLists, loadSnapshots, parseTagListFlags, selectorMatches } from '../forget/tags.js';
import { changeSnapshotTags } from '../forget/tag.js';

export const tagCommand: Command = {
  name: 'tag',
  summary: 'Modify tags on snapshots',
  usage: 'restic-ts tag [flags] [snapshot-ID ...]',
  options: [
    {
      name: 'set',
      kind: 'list',
      help: 'tags which will replace the existing tags in the format tag[,tag,...] (can be given multiple times)',
    },
    {
      name: 'add',
      kind: 'list',
      help: 'tags which will be added to the existing tags in the format tag[,tag,...] (can be given multiple times)',
    },
    {
      name: 'remove',
      kind: 'list',
      help: 'tags which will be removed from the existing tags in the format tag[,tag,...] (can be given multiple times)',
    },
    {
      name: 'host',
      short: 'H',
      kind: 'list',
      help: 'only consider snapshots for this host, when no snapshot ID is given (can be specified multiple times)',
    },
    { name: 'tag', kind: 'list', help: 'only consider snapshots which include this taglist, when no snapshot-ID is given' },
    { name: 'path', kind: 'list', help: 'only consider snapshots which include this (absolute) path, when no snapshot-ID is given' },
  ],
  async run(ctx, args) {
    const set = parseTagListFlags(ctx.opts['set'] as string[] | undefined);
    const add = parseTagListFlags(ctx.opts['add'] as string[] | undefined);
    const remove = parseTagListFlags(ctx.opts['remove'] as string[] | undefined);
    if (!set.length && !add.length && !remove.length) throw new UsageError('nothing to do!');
    if (set.length && (add.length || remove.length)) throw new UsageError('--set and --add/--remove cannot be given at the same time');
    const change = { set: flattenTagLists(set), add: flattenTagLists(add), remove: flattenTagLists(remove) };
    const filter = snapshotSelector(ctx);
    const say = (s: string) => {
      if (!ctx.quiet && !ctx.json) ctx.stdout(s);
    };
    const repo = await openRepository(ctx);
    try {
      let release: (() => Promise<void>) | null = null;
      if (!ctx.opts['no-lock']) {
        say('create exclusive lock for repository\n');
        release = await repo.lock(true, lockOptions(ctx));
      }
      try {
        let changed = 0;
        const list = args.length
          ? await findFilteredSnapshots(repo, filter, args, (m) => warn(ctx, m))
          : (await loadSnapshots(repo, (m) => warn(ctx, m))).filter((e) => selectorMatches(e.snapshot, filter));
        for (const { id, snapshot } of list) {
          try {
            if (await changeSnapshotTags(repo, id, snapshot, change)) changed++;
          } catch (err) {
            warn(ctx, `unable to modify the tags for snapshot ID "${id}", ignoring: ${(err as Error).message}`);
          }
        }
        say(changed === 0 ? 'no snapshots were modified\n' : `modified tags on ${changed} snapshots\n`);
      } finally {
        await release?.();
      }
    } finally {
      await repo.close();
    }
    return 0;
  },
};
