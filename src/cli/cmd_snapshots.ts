import type { Command } from './command.js';
import { openRepository, withLock } from './global.js';
import { formatSnapshotTime } from './format.js';
import { encodeSnapshot } from '../repo/snapshot.js';

export const snapshotsCommand: Command = {
  name: 'snapshots',
  summary: 'List all snapshots',
  usage: 'restic-ts snapshots [flags] [snapshotID ...]',
  options: [
    { name: 'host', short: 'H', kind: 'list', help: 'only consider snapshots for this host (can be specified multiple times)' },
    { name: 'tag', kind: 'list', help: 'only consider snapshots which include this taglist' },
    { name: 'path', kind: 'list', help: 'only consider snapshots for this path (can be specified multiple times)' },
  ],
  async run(ctx, args) {
    const repo = await openRepository(ctx);
    const all = await withLock(ctx, repo, false, () => repo.listSnapshots());
    const hosts = ctx.opts['host'] as string[] | undefined;
    const tags = ctx.opts['tag'] as string[] | undefined;
    const paths = ctx.opts['path'] as string[] | undefined;
    const list = all.filter(({ id, snapshot: s }) => {
      if (args.length && !args.some((a) => id.startsWith(a))) return false;
      if (hosts?.length && !hosts.includes(s.hostname ?? '')) return false;
      if (paths?.length && !paths.every((p) => s.paths.includes(p))) return false;
      if (tags?.length && !tags.some((tl) => tl.split(',').every((t) => s.tags?.includes(t)))) return false;
      return true;
    });
    if (ctx.json) {
      // restic marshals the snapshot struct followed by id and short_id
      const items = list.map(({ id, snapshot }) => {
        const body = Buffer.from(encodeSnapshot(snapshot)).toString('utf8').slice(0, -1);
        return `${body},"id":"${id}","short_id":"${id.slice(0, 8)}"}`;
      });
      ctx.stdout('[' + items.join(',') + ']\n');
    } else {
      const rows = list.map(({ id, snapshot: s }) => [id.slice(0, 8), formatSnapshotTime(s.time), s.hostname ?? '', (s.tags ?? []).join(','), s.paths.join('\n')]);
      const head = ['ID', 'Time', 'Host', 'Tags', 'Paths'];
      const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
      const line = (r: string[]) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(w[i]!))).join('  ');
      const sep = '-'.repeat(Math.max(60, line(head).length));
      ctx.stdout([line(head), sep, ...rows.map(line), sep, `${list.length} snapshots`].join('\n') + '\n');
    }
    await repo.close();
    return 0;
  },
};
