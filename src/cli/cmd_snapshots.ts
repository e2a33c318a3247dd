import type { Command } from './command.js';
import { UsageError } from '../errors.js';
import { type Snapshot, snapshotStructJson } from '../format/snapshot.js';
import { type GlobalContext, openRepository, withLock } from './global.js';
import { formatSnapshotTime } from '../ui/duration.js';
import { resticFormatBytes } from '../ui/format.js';
import { findFilteredSnapshots } from '../walker/select.js';
import { goSortStrings } from '../go/bytestring.js';
import { snapshotFilter, warn } from './read-common.js';

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
    const found = await withLock(ctx, repo, false, () => findFilteredSnapshots(repo, snapshotFilter(ctx), args, (m) => warn(ctx, m)));
    const groupBy = parseGroupBy((ctx.opts['group-by'] as string | undefined) ?? '');
    // restic's GroupSnapshots sorts every snapshot's paths (and, grouped by tags, its tags) in place
    let list = found.map(({ id, snapshot: s }) => ({
      id,
      snapshot: { ...s, paths: goSortStrings(s.paths), tags: groupBy?.tags && s.tags ? goSortStrings(s.tags) : s.tags },
    }));
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
          // restic's PrintSnapshotGroupHeader: host, tags, paths, each only when set
          const parts = [];
          if (key.hostname) parts.push(`host [${key.hostname}]`);
          if (key.tags) parts.push(`tags [${key.tags.join(', ')}]`);
          if (key.paths) parts.push(`paths [${key.paths.join(', ')}]`);
          if (parts.length) ctx.stdout(`snapshots for (${parts.join(', ')}):\n`);
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

/** restic marshals the snapshot struct (with 0.17+'s summary) followed by id and short_id. */
export function snapshotJson({ id, snapshot }: Entry): string {
  const body = snapshotStructJson(snapshot).slice(0, -1);
  return `${body},"id":"${id}","short_id":"${id.slice(0, 8)}"}`;
}

/**
 * restic ≥ 0.17's table: Go's table layout (columns padded to their widest line, byte lengths,
 * trailing blanks cut), a blank line between rows when a snapshot has several paths, a Size
 * column (the summary's bytes processed) when a snapshot has a summary, and the zone footer.
 */
function printTable(ctx: GlobalContext, list: Entry[]): void {
  const compact = !!ctx.opts['compact'];
  const hasSize = list.some((e) => e.snapshot.summary);
  const head = compact ? ['ID', 'Time', 'Host', 'Tags  '] : ['ID', 'Time', 'Host      ', 'Tags      ', 'Paths'];
  if (hasSize) head.push('Size');
  const rows = list.map(({ id, snapshot: s }) => {
    const tags = s.tags ?? [];
    const row = [id.slice(0, 8), formatSnapshotTime(s.time), s.hostname ?? '', tags.join(compact ? '\n' : ',')];
    if (!compact) row.push(s.paths.join('\n'));
    if (hasSize) row.push(s.summary ? resticFormatBytes(s.summary.totalBytesProcessed) : '');
    return row;
  });
  const len = (t: string) => Buffer.byteLength(t);
  // loops, not Math.max(...list): a cell may hold millions of tags
  const widths = head.map(len);
  for (const r of rows) r.forEach((c, i) => c.split('\n').forEach((l) => (widths[i] = Math.max(widths[i]!, len(l)))));
  const lines = (cells: string[]) => {
    const split = cells.map((c) => c.split('\n'));
    const n = split.reduce((m, l) => Math.max(m, l.length), 0);
    return Array.from({ length: n }, (_, k) =>
      split
        .map((l, i) => (l[k] ?? '') + ' '.repeat(Math.max(0, widths[i]! - len(l[k] ?? ''))))
        .join('  ')
        .trimEnd(),
    );
  };
  const multiline = !compact && list.some((e) => e.snapshot.paths.length > 1);
  const sep = '-'.repeat(widths.reduce((a, b) => a + b, 0) + 2 * (widths.length - 1));
  const body = rows.flatMap((r, i) => (multiline && i > 0 ? ['', ...lines(r)] : lines(r)));
  const footer = [`Timestamps shown in ${goLocalZoneName(ctx.env)}`, `${list.length} snapshots`];
  // in pieces: with millions of tags the whole table is longer than a V8 string may be
  let chunk = '';
  for (const l of [...lines(head), sep, ...body, sep, ...footer]) {
    if (chunk.length + l.length > 64 * 1024 * 1024) {
      ctx.stdout(chunk);
      chunk = '';
    }
    chunk += l + '\n';
  }
  ctx.stdout(chunk);
}

/** Go's time.Local name as restic prints it: "local time" unless TZ names a zone. */
function goLocalZoneName(env: NodeJS.ProcessEnv): string {
  const tz = env.TZ;
  if (tz === undefined) return 'local time';
  if (tz === '') return 'UTC';
  const name = tz.startsWith(':') ? tz.slice(1) : tz;
  return name === '/etc/localtime' || name === '' ? 'local time' : name;
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
  const paths = g.paths ? goSortStrings(s.paths) : null;
  // Go marshals an untagged snapshot's nil tag list as null (and restic's header then leaves tags out)
  const tags = g.tags && s.tags?.length ? goSortStrings(s.tags) : null;
  return JSON.stringify({ hostname, paths, tags });
}
