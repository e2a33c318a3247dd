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

/** Go's sort.Strings: byte order of the UTF-8 encoding. */
function goSortStrings(l: string[]): string[] {
  return l.sort((a, b) => Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8')));
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
