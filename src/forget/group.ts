/** restic 0.14's GroupSnapshots: split snapshots into groups by host, paths and/or tags. */
import { UsageError } from '../errors.js';
import { goJsonString, goJsonStrings } from '../go/json-string.js';
import type { SnapshotEntry } from './policy.js';

export interface GroupByOptions {
  host: boolean;
  paths: boolean;
  tags: boolean;
}

export interface GroupKey {
  hostname: string;
  /** null when not grouping by paths */
  paths: string[] | null;
  /** null when not grouping by tags (or the snapshot has none) */
  tags: string[] | null;
}

export interface SnapshotGroup<E extends SnapshotEntry = SnapshotEntry> {
  /** Go's JSON of the key, as restic uses it for a map key */
  keyJson: string;
  key: GroupKey;
  snapshots: E[];
}

/** `host,paths` → options; "" (or only commas) means no grouping. Singular forms are accepted as in restic. */
export function parseGroupByOptions(s: string): GroupByOptions {
  const g = { host: false, paths: false, tags: false };
  for (const option of s.split(',')) {
    if (option === 'host' || option === 'hosts') g.host = true;
    else if (option === 'path' || option === 'paths') g.paths = true;
    else if (option === 'tag' || option === 'tags') g.tags = true;
    else if (option !== '') throw new UsageError(`unknown grouping option: '${option}'`);
  }
  return g;
}

/** json.Marshal(SnapshotGroupKey{…}) */
export function groupKeyJson(k: GroupKey): string {
  return `{"hostname":${goJsonString(k.hostname)},"paths":${goJsonStrings(k.paths)},"tags":${goJsonStrings(k.tags)}}`;
}

const SURROGATE = /[\ud800-\udfff]/;

/**
 * Go's sort.Strings: byte order of the UTF-8 encoding. Without surrogates UTF-16 code-unit
 * order is the same order, so only lists with them pay for encoding (once per string).
 */
function goSortStrings(l: string[]): string[] {
  if (!l.some((s) => SURROGATE.test(s))) return l.sort(); // default sort: code-unit order
  const keyed = l.map((s) => ({ s, b: Buffer.from(s, 'utf8') })).sort((x, y) => Buffer.compare(x.b, y.b));
  keyed.forEach((k, i) => (l[i] = k.s));
  return l;
}

/**
 * Sort every snapshot's paths (and tags, when grouping by them) as groupSnapshots does, letting
 * the event loop run (signals, timers) at least every 50 ms; groupSnapshots then finds them
 * sorted, which costs it one linear pass per list.
 */
export async function presortForGrouping(list: SnapshotEntry[], g: GroupByOptions, signal?: AbortSignal): Promise<void> {
  let turn = Date.now();
  for (const { snapshot: sn } of list) {
    if (g.tags && sn.tags) goSortStrings(sn.tags);
    goSortStrings(sn.paths);
    if (Date.now() - turn < 50) continue;
    await new Promise<void>((resolve) => setImmediate(resolve));
    signal?.throwIfAborted();
    turn = Date.now();
  }
}

/**
 * Group in input order (groups appear in order of their first snapshot). Like restic, this
 * sorts every snapshot's paths in place, and its tags too when grouping by tags; restic's
 * output then shows them sorted.
 */
export function groupSnapshots<E extends SnapshotEntry>(list: E[], g: GroupByOptions): SnapshotGroup<E>[] {
  const groups = new Map<string, SnapshotGroup<E>>();
  for (const e of list) {
    const sn = e.snapshot;
    let tags: string[] | null = null;
    if (g.tags && sn.tags) tags = goSortStrings(sn.tags);
    goSortStrings(sn.paths);
    const key: GroupKey = { hostname: g.host ? (sn.hostname ?? '') : '', paths: g.paths ? sn.paths : null, tags };
    const keyJson = groupKeyJson(key);
    let group = groups.get(keyJson);
    if (!group)
      groups.set(
        keyJson,
        (group = { keyJson, key: { ...key, paths: key.paths && [...key.paths], tags: key.tags && [...key.tags] }, snapshots: [] }),
      );
    group.snapshots.push(e);
  }
  return [...groups.values()];
}
