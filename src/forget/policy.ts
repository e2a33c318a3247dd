/**
 * restic 0.14's expire policy (internal/restic/snapshot_policy.go), as pure functions over
 * snapshot lists: which snapshots `forget` keeps, which it removes, and why.
 */
import type { Snapshot } from '../format/snapshot.js';
import { type Duration, formatDuration, isZeroDuration } from './duration.js';
import { hasTags, formatTagList } from './tags.js';
import { type WallTime, ZERO_TIME, addDate, addHours, isoWeek, parseWallTime } from './time.js';

export interface ExpirePolicy {
  /** keep the last n snapshots */
  last?: number;
  hourly?: number;
  daily?: number;
  weekly?: number;
  monthly?: number;
  yearly?: number;
  /** keep every snapshot newer than the newest one minus this */
  within?: Duration;
  withinHourly?: Duration;
  withinDaily?: Duration;
  withinWeekly?: Duration;
  withinMonthly?: Duration;
  withinYearly?: Duration;
  /** keep snapshots that carry all tags of any one list */
  tags?: string[][];
}

export interface SnapshotEntry {
  id: string;
  snapshot: Snapshot;
}

export interface KeepCounters {
  last: number;
  hourly: number;
  daily: number;
  weekly: number;
  monthly: number;
  yearly: number;
}

export interface KeepReason<E extends SnapshotEntry = SnapshotEntry> {
  entry: E;
  /** e.g. "daily snapshot", "within 1d", "has tags [a, b]" */
  matches: string[];
  /** the remaining counts after this snapshot was evaluated */
  counters: KeepCounters;
}

export interface PolicyResult<E extends SnapshotEntry = SnapshotEntry> {
  /** newest first */
  keep: E[];
  remove: E[];
  /** one per kept snapshot, same order as keep */
  reasons: KeepReason<E>[];
}

const COUNT_KEYS = ['last', 'hourly', 'daily', 'weekly', 'monthly', 'yearly'] as const;
const WITHIN_KEYS = ['withinHourly', 'withinDaily', 'withinWeekly', 'withinMonthly', 'withinYearly'] as const;

/** restic's Empty(): no counts (zero), no durations (zero) and no keep-tags. */
export function isEmptyPolicy(p: ExpirePolicy): boolean {
  if (p.tags?.length) return false;
  return COUNT_KEYS.every((k) => !p[k]) && isZeroDuration(p.within) && WITHIN_KEYS.every((k) => isZeroDuration(p[k]));
}

/** restic's ExpirePolicy.String(), printed as "Applying Policy: …". */
export function formatPolicy(p: ExpirePolicy): string {
  const keeps: string[] = [];
  const names = { last: 'latest', hourly: 'hourly', daily: 'daily', weekly: 'weekly', monthly: 'monthly', yearly: 'yearly' };
  for (const k of COUNT_KEYS) if ((p[k] ?? 0) > 0) keeps.push(`${p[k]} ${names[k]}`);
  const keepw: string[] = [];
  const wnames = { withinHourly: 'hourly', withinDaily: 'daily', withinWeekly: 'weekly', withinMonthly: 'monthly', withinYearly: 'yearly' };
  for (const k of WITHIN_KEYS) if (!isZeroDuration(p[k])) keepw.push(`${wnames[k]} snapshots within ${formatDuration(p[k]!)}`);
  let s = keeps.length ? `${keeps.join(', ')} snapshots` : '';
  if (keepw.length) s += (s ? ', ' : '') + keepw.join(', ');
  if (p.tags?.length) s += (s ? ' and ' : '') + `all snapshots with tags [${p.tags.map(formatTagList).join(' ')}]`;
  if (!isZeroDuration(p.within)) s += (s ? ' and ' : '') + `all snapshots within ${formatDuration(p.within!)} of the newest`;
  // restic ≥ 0.17 prints an empty policy (only reachable with --unsafe-allow-remove-all) as "remove"
  return s ? 'keep ' + s : 'remove';
}

type Bucker = (t: WallTime, nr: number) => number;

const ymdh: Bucker = (t) => t.year * 1_000_000 + t.month * 10_000 + t.day * 100 + t.hour;
const ymd: Bucker = (t) => t.year * 10_000 + t.month * 100 + t.day;
const yw: Bucker = (t) => {
  const [year, week] = isoWeek(t);
  return year * 100 + week;
};
const ym: Bucker = (t) => t.year * 100 + t.month;
const y: Bucker = (t) => t.year;
/** a different value for every snapshot: its position in the sorted list */
const always: Bucker = (_t, nr) => nr;

/** The newest snapshot time that is not in the future (Go's zero time if there is none). */
function findLatest(times: WallTime[], nowNs: bigint): WallTime {
  let latest = ZERO_TIME;
  for (const t of times) if (t.ns > latest.ns && t.ns < nowNs) latest = t;
  return latest;
}

/** latest − d with restic's arithmetic: AddDate(−y, −m, −d), then −h hours. */
function cutoff(latest: WallTime, d: Duration): bigint {
  return addHours(addDate(latest, -d.years, -d.months, -d.days), -d.hours).ns;
}

/** Sort newest first; stable, so snapshots with equal times keep their input order. */
function sortNewestFirst<E extends SnapshotEntry>(list: E[], times: Map<E, WallTime>): E[] {
  return list
    .map((e, i) => ({ e, i, ns: times.get(e)!.ns }))
    .sort((a, b) => (a.ns === b.ns ? a.i - b.i : a.ns > b.ns ? -1 : 1))
    .map((x) => x.e);
}

/** The --keep-last/hourly/… buckets: `count` snapshots more to keep, `last` bucket value kept. */
function countBuckets(p: ExpirePolicy): Array<{ count: number; bucker: Bucker; last: number; reason: string }> {
  return [
    { count: p.last ?? 0, bucker: always, last: -1, reason: 'last snapshot' },
    { count: p.hourly ?? 0, bucker: ymdh, last: -1, reason: 'hourly snapshot' },
    { count: p.daily ?? 0, bucker: ymd, last: -1, reason: 'daily snapshot' },
    { count: p.weekly ?? 0, bucker: yw, last: -1, reason: 'weekly snapshot' },
    { count: p.monthly ?? 0, bucker: ym, last: -1, reason: 'monthly snapshot' },
    { count: p.yearly ?? 0, bucker: y, last: -1, reason: 'yearly snapshot' },
  ];
}

/** The --keep-within-hourly/… buckets. */
function withinBuckets(p: ExpirePolicy): Array<{ within: Duration | undefined; bucker: Bucker; last: number; reason: string }> {
  return [
    { within: p.withinHourly, bucker: ymdh, last: -1, reason: 'hourly within' },
    { within: p.withinDaily, bucker: ymd, last: -1, reason: 'daily within' },
    { within: p.withinWeekly, bucker: yw, last: -1, reason: 'weekly within' },
    { within: p.withinMonthly, bucker: ym, last: -1, reason: 'monthly within' },
    { within: p.withinYearly, bucker: y, last: -1, reason: 'yearly within' },
  ];
}

/**
 * restic's ApplyPolicy for one group. `now` (ms since the epoch, default the current time)
 * only decides which snapshots lie in the future and so cannot be the reference for
 * keep-within.
 */
export function applyPolicy<E extends SnapshotEntry>(input: E[], p: ExpirePolicy, now: number = Date.now()): PolicyResult<E> {
  const times = new Map(input.map((e) => [e, parseWallTime(e.snapshot.time)] as const));
  const list = sortNewestFirst(input, times);
  const zero: KeepCounters = { last: 0, hourly: 0, daily: 0, weekly: 0, monthly: 0, yearly: 0 };
  if (isEmptyPolicy(p)) {
    return { keep: list, remove: [], reasons: list.map((entry) => ({ entry, matches: ['policy is empty'], counters: { ...zero } })) };
  }
  const result: PolicyResult<E> = { keep: [], remove: [], reasons: [] };
  if (!list.length) return result;

  const buckets = countBuckets(p);
  const bucketsWithin = withinBuckets(p);

  const latest = findLatest([...times.values()], BigInt(Math.floor(now)) * 1_000_000n);
  const withinCutoff = isZeroDuration(p.within) ? 0n : cutoff(latest, p.within!);
  const bucketCutoffs = bucketsWithin.map((b) => (isZeroDuration(b.within) ? 0n : cutoff(latest, b.within!)));

  list.forEach((cur, nr) => {
    const t = times.get(cur)!;
    const matches: string[] = [];
    for (const l of p.tags ?? []) {
      if (hasTags(cur.snapshot, l)) matches.push(`has tags ${formatTagList(l)}`);
    }
    if (!isZeroDuration(p.within) && t.ns > withinCutoff) matches.push(`within ${formatDuration(p.within!)}`);
    for (const b of buckets) {
      if (b.count <= 0) continue;
      const val = b.bucker(t, nr);
      if (val !== b.last) {
        b.last = val;
        b.count--;
        matches.push(b.reason);
      }
    }
    bucketsWithin.forEach((b, i) => {
      if (isZeroDuration(b.within) || !(t.ns > bucketCutoffs[i]!)) return;
      const val = b.bucker(t, nr);
      if (val !== b.last) {
        b.last = val;
        matches.push(`${b.reason} ${formatDuration(b.within!)}`);
      }
    });
    if (!matches.length) {
      result.remove.push(cur);
      return;
    }
    result.keep.push(cur);
    const counters: KeepCounters = { ...zero };
    COUNT_KEYS.forEach((k, i) => (counters[k] = buckets[i]!.count));
    result.reasons.push({ entry: cur, matches, counters });
  });
  return result;
}
