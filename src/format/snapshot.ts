/** Snapshot files (`snapshots/<id>`), encoded in Go struct order. */
import { FormatError } from '../errors.js';
import { goJsonString, goJsonStrings } from '../go/json-string.js';
import { jsonMembers, parseJson } from '../go/json-parse.js';
import { compactRawJson } from './tree.js';
import { type ExtraField, joinMembers, unknownMembers } from './extra-fields.js';
import { isId } from './id.js';
import { goTimeJson } from '../go/time.js';

/** Go's zero time.Time, what restic reads for a missing time. */
const GO_ZERO_TIME = '0001-01-01T00:00:00Z';

/**
 * A snapshot file's content: root tree, time, paths, host, tags and the rest restic records.
 */
export interface Snapshot {
  time: string;
  parent?: string;
  tree: string | null;
  paths: string[];
  hostname?: string;
  username?: string;
  uid?: number;
  gid?: number;
  excludes?: string[];
  tags?: string[];
  original?: string;
  programVersion?: string;
  /** restic 0.17+'s backup statistics. */
  summary?: SnapshotSummary;
  /** Fields we do not know (a newer restic's), written back where and as they stood. */
  extraFields?: ExtraField[];
}

/** restic 0.17+'s SnapshotSummary: the backup's start/end (Go RFC3339Nano) and its counts. */
export interface SnapshotSummary {
  backupStart: string;
  backupEnd: string;
  filesNew: number;
  filesChanged: number;
  filesUnmodified: number;
  dirsNew: number;
  dirsChanged: number;
  dirsUnmodified: number;
  dataBlobs: number;
  treeBlobs: number;
  dataAdded: number;
  dataAddedPacked: number;
  totalFilesProcessed: number;
  totalBytesProcessed: number;
  extraFields?: ExtraField[];
}

/** restic's Snapshot struct fields in order. */
const SNAPSHOT_KEYS = [
  'time',
  'parent',
  'tree',
  'paths',
  'hostname',
  'username',
  'uid',
  'gid',
  'excludes',
  'tags',
  'original',
  'program_version',
  'summary',
] as const;

/** restic's SnapshotSummary fields in order, with our property names. */
const SUMMARY_FIELDS = [
  ['backup_start', 'backupStart'],
  ['backup_end', 'backupEnd'],
  ['files_new', 'filesNew'],
  ['files_changed', 'filesChanged'],
  ['files_unmodified', 'filesUnmodified'],
  ['dirs_new', 'dirsNew'],
  ['dirs_changed', 'dirsChanged'],
  ['dirs_unmodified', 'dirsUnmodified'],
  ['data_blobs', 'dataBlobs'],
  ['tree_blobs', 'treeBlobs'],
  ['data_added', 'dataAdded'],
  ['data_added_packed', 'dataAddedPacked'],
  ['total_files_processed', 'totalFilesProcessed'],
  ['total_bytes_processed', 'totalBytesProcessed'],
] as const;
const SUMMARY_KEYS = SUMMARY_FIELDS.map(([k]) => k);

/** Members of `text` unknown to us, compacted as Go's json.RawMessage would be. */
function unknownSnapshotMembers(text: string, order: readonly string[]): ExtraField[] | undefined {
  return unknownMembers(text, order, compactRawJson);
}

function encodeSummary(s: SnapshotSummary): string {
  const known = SUMMARY_FIELDS.map(([k, prop]): [string, string] => {
    const v = s[prop];
    return [k, typeof v === 'string' ? goJsonString(v) : String(v)];
  });
  return joinMembers(SUMMARY_KEYS, known, s.extraFields);
}

function knownSnapshotMembers(s: Snapshot, withVersion: boolean): Array<[string, string]> {
  const f: Array<[string, string]> = [['time', goJsonString(s.time)]];
  if (s.parent) f.push(['parent', `"${s.parent}"`]);
  f.push(['tree', s.tree ? `"${s.tree}"` : 'null']);
  f.push(['paths', s.paths ? goJsonStrings(s.paths) : 'null']);
  if (s.hostname) f.push(['hostname', goJsonString(s.hostname)]);
  if (s.username) f.push(['username', goJsonString(s.username)]);
  if (s.uid) f.push(['uid', String(s.uid)]);
  if (s.gid) f.push(['gid', String(s.gid)]);
  if (s.excludes?.length) f.push(['excludes', goJsonStrings(s.excludes)]);
  if (s.tags?.length) f.push(['tags', goJsonStrings(s.tags)]);
  if (s.original) f.push(['original', `"${s.original}"`]);
  if (withVersion && s.programVersion) f.push(['program_version', goJsonString(s.programVersion)]);
  if (withVersion && s.summary) f.push(['summary', encodeSummary(s.summary)]);
  return f;
}

/** The snapshot file: restic's struct order, unknown fields kept where they stood. */
export function encodeSnapshot(s: Snapshot): Uint8Array {
  return Buffer.from(joinMembers(SNAPSHOT_KEYS, knownSnapshotMembers(s, true), s.extraFields));
}

/** The snapshot as current restic marshals its struct (`snapshots --json`): unknown fields left out. */
export function snapshotStructJson(s: Snapshot): string {
  const summary = s.summary && { ...s.summary, extraFields: undefined };
  return joinMembers(SNAPSHOT_KEYS, knownSnapshotMembers({ ...s, summary }, true), undefined);
}

function decodeSummary(v: unknown, text: string): SnapshotSummary | undefined {
  if (!v || typeof v !== 'object' || Array.isArray(v)) return undefined;
  const o = v as Record<string, unknown>;
  const num = (x: unknown) => (typeof x === 'number' ? x : typeof x === 'bigint' ? Number(x) : 0);
  const str = (x: unknown) => (typeof x === 'string' ? x : GO_ZERO_TIME);
  const s = { extraFields: unknownSnapshotMembers(text, SUMMARY_KEYS) } as SnapshotSummary;
  for (const [k, prop] of SUMMARY_FIELDS) {
    (s as unknown as Record<string, unknown>)[prop] = prop === 'backupStart' || prop === 'backupEnd' ? str(o[k]) : num(o[k]);
  }
  if (!s.extraFields) delete s.extraFields;
  return s;
}

export function decodeSnapshot(plain: Uint8Array, name = ''): Snapshot {
  let raw: Record<string, unknown>;
  try {
    raw = parseJson(plain) as Record<string, unknown>;
  } catch (err) {
    throw new FormatError(`snapshot ${name.slice(0, 8)} is not valid JSON: ${(err as Error).message}`);
  }
  if (!raw || typeof raw !== 'object' || typeof raw.time !== 'string') {
    throw new FormatError(`snapshot ${name.slice(0, 8)} has no time`);
  }
  const strs = (v: unknown) => (Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : undefined);
  const s: Snapshot = {
    time: raw.time,
    tree: isId(raw.tree) ? raw.tree : null,
    paths: strs(raw.paths) ?? [],
  };
  if (isId(raw.parent)) s.parent = raw.parent;
  if (typeof raw.hostname === 'string') s.hostname = raw.hostname;
  if (typeof raw.username === 'string') s.username = raw.username;
  if (typeof raw.uid === 'number') s.uid = raw.uid;
  if (typeof raw.gid === 'number') s.gid = raw.gid;
  const excludes = strs(raw.excludes);
  if (excludes?.length) s.excludes = excludes;
  const tags = strs(raw.tags); // once: a snapshot may carry millions
  if (tags?.length) s.tags = tags;
  if (isId(raw.original)) s.original = raw.original;
  if (typeof raw.program_version === 'string') s.programVersion = raw.program_version;
  const keys = Object.keys(raw);
  if (raw.summary !== undefined || keys.some((k) => !(SNAPSHOT_KEYS as readonly string[]).includes(k))) {
    const text = Buffer.from(plain).toString('utf8');
    const members = new Map(jsonMembers(text) ?? []);
    const summary = decodeSummary(raw.summary, members.get('summary') ?? '');
    if (summary) s.summary = summary;
    const extra = unknownSnapshotMembers(text, SNAPSHOT_KEYS);
    if (extra) s.extraFields = extra;
  }
  return s;
}

/**
 * A snapshot as restic 0.14 marshals its Snapshot struct (compact): the time re-encoded,
 * fields restic 0.14 does not know (program_version, summary) left out.
 */
export function snapshotJson014(s: Snapshot): string {
  return joinMembers(SNAPSHOT_KEYS, knownSnapshotMembers({ ...s, time: goTimeJson(s.time) }, false), undefined);
}

/** The `ls --json` / `snapshots --json` form: the snapshot followed by id and short_id (and extra fields). */
export function snapshotJsonWithId(s: Snapshot, id: string, extra = ''): string {
  return `${snapshotJson014(s).slice(0, -1)},"id":"${id}","short_id":"${id.slice(0, 8)}"${extra}}`;
}
