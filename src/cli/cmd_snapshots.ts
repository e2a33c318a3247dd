import type { Command } from './command.js';
import { UsageError } from '../errors.js';
import { type Snapshot, encodeSnapshot } from '../format/snapshot.js';
import { type GlobalContext, openRepository, withLock } from './global.js';
import { formatSnapshotTime } from '../ui/duration.js';
import { couldNotLoad } from '../forget/tags.js';

export const snapshotsCommand: Command = {
  name: 'snapshots',
  summary: 'List all snapshots',
  usage: 'restic-ts snapshots [flags] [snapshotID ...]',
  options: [
    { name: 'host', short: 'H', kind: 'list', help: 'only consider snapshots for this host (can be specified multiple times)' },
    { name: 'tag', kind: 'list', help: 'only consider snapshots which include this taglist' },
    { name: 'path', kind: 'list', help: 'only consider snapshots for this path (can be specified multiple times)' },
    { name: 'latest', kind: 'string', help: 'only show the last n snapshots for each host and path' },
    { name: 'group-by', short: 'g', kind: 'string', help: 'group snapshots by host, paths and/or tags, separated by comma' },
    { name: 'compact', short: 'c', kind: 'bool', help: 'use compact output format' },
  ],
  async run(ctx, args) {
    const repo = await openRepository(ctx);
    // restic warns per snapshot file it cannot load and lists the others
    const all = await withLock(ctx, repo, false, () => repo.listSnapshots((id, err) => ctx.stderr(couldNotLoad(id, err) + '\n')));
    const hosts = ctx.opts['host'] as string[] | undefined;
    const tags = ctx.opts['tag'] as string[] | undefined;
    const paths = ctx.opts['path'] as string[] | undefined;
    let list = all.filter(({ id, snapshot: s }) => {
      if (args.length && !args.some((a) => id.startsWith(a))) return false;
      if (hosts?.length && !hosts.includes(s.hostname ?? '')) return false;
      if (paths?.length && !paths.every((p) => s.paths.includes(p))) return false;
      if (tags?.length && !tags.some((tl) => tl.split(',').every((t) => s.tags?.includes(t)))) return false;
      return true;
    });
    const groupBy = parseGroupBy((ctx.opts['group-by'] as string | undefined) ?? '');
    const latest = ctx.opts['latest'] !== undefined ? Number(ctx.opts['latest']) : undefined;
    if (latest !== undefined && (!Number.isInteger(latest) || latest < 0))
      throw new UsageError(`invalid value for --latest: ${String(ctx.opts['latest'])}`);
    if (latest !== undefined) {
      // restic: the last n snapshots of each host and path combination
      const byKey = new Map<string, typeof list>();
      for (const e of list) {
        const k = groupKey(e.snapshot, { host: true, paths: true, tags: false });
        byKey.set(k, [...(byKey.get(k) ?? []), e]);
      }
      const keep = new Set([...byKey.values()].flatMap((g) => g.slice(-latest).map((e) => e.id)));
      list = list.filter((e) => keep.has(e.id));
    }
    if (groupBy) {
      const groups = new Map<string, typeof list>();
      for (const e of list) {
        const k = groupKey(e.snapshot, groupBy);
        groups.set(k, [...(groups.get(k) ?? []), e]);
      }
      if (ctx.json) {
        const out = [...groups].map(([k, g]) => `{"group_key":${k},"snapshots":[${g.map(snapshotJson).join(',')}]}`);
        ctx.stdout('[' + out.join(',') + ']\n');
      } else {
        for (const [k, g] of groups) {
          const key = JSON.parse(k) as { hostname: string; paths: string[] | null; tags: string[] | null };
          const parts = [];
          if (groupBy.host) parts.push(`host [${key.hostname}]`);
          if (groupBy.paths) parts.push(`paths [${(key.paths ?? []).join(', ')}]`);
          if (groupBy.tags) parts.push(`tags [${(key.tags ?? []).join(', ')}]`);
          ctx.stdout(`snapshots for (${parts.join(', ')}):\n`);
          printTable(ctx, g);
        }
      }
      await repo.close();
      return 0;
    }
    if (ctx.json) {
      // restic marshals the snapshot struct followed by id and short_id
      ctx.stdout('[' + list.map(snapshotJson).join(',') + ']\n');
    } else {
      printTable(ctx, list);
    }
    await repo.close();
    return 0;
  },
};

type Entry = { id: string; snapshot: Snapshot };

/** restic marshals the snapshot struct followed by id and short_id. */
export function snapshotJson({ id, snapshot }: Entry): string {
  const body = Buffer.from(encodeSnapshot(snapshot)).toString('utf8').slice(0, -1);
  return `${body},"id":"${id}","short_id":"${id.slice(0, 8)}"}`;
}

function printTable(ctx: GlobalContext, list: Entry[]): void {
  const rows = list.map(({ id, snapshot: s }) => [
    id.slice(0, 8),
    formatSnapshotTime(s.time),
    s.hostname ?? '',
    (s.tags ?? []).join(','),
    s.paths.join('\n'),
  ]);
  const head = ['ID', 'Time', 'Host', 'Tags', 'Paths'];
  const w = head.map((h, i) => rows.reduce((m, r) => Math.max(m, r[i]!.length), h.length));
  const line = (r: string[]) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(w[i]!))).join('  ');
  const sep = '-'.repeat(Math.max(60, line(head).length));
  // line by line: a row with millions of tags makes the whole table longer than a V8 string
  ctx.stdout(line(head) + '\n' + sep + '\n');
  for (const r of rows) ctx.stdout(line(r) + '\n');
  ctx.stdout(sep + '\n' + `${list.length} snapshots` + '\n\n');
}

export interface GroupBy {
  host: boolean;
  paths: boolean;
  tags: boolean;
}

export function parseGroupBy(s: string): GroupBy | null {
  if (!s) return null;
  const g = { host: false, paths: false, tags: false };
  for (const part of s.split(',')) {
    if (part === 'host') g.host = true;
    else if (part === 'paths') g.paths = true;
    else if (part === 'tags') g.tags = true;
    else if (part !== '') throw new UsageError(`unknown grouping option: ${JSON.stringify(part)}`);
  }
  return g;
}

/** restic's group key: JSON of {"hostname","paths","tags"} with sorted lists. */
export function groupKey(s: Snapshot, g: GroupBy): string {
  const hostname = g.host ? (s.hostname ?? '') : '';
  const paths = g.paths ? [...s.paths].sort() : null;
  const tags = g.tags ? [...(s.tags ?? [])].sort() : null;
  return JSON.stringify({ hostname, paths, tags });
}
