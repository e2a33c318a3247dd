/** Snapshot files (`snapshots/<id>`), encoded in Go struct order. */
import { FormatError } from '../errors.js';
import { goJsonString, goJsonStrings } from '../go/json-string.js';
import { parseJson } from '../go/json-parse.js';
import { isId } from './id.js';
import { goTimeJson } from '../go/time.js';

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
  /** restic 0.17+ summary, kept as parsed JSON; we never write it. */
  summary?: unknown;
}

export function encodeSnapshot(s: Snapshot): Uint8Array {
  const f: string[] = [`"time":${goJsonString(s.time)}`];
  if (s.parent) f.push(`"parent":"${s.parent}"`);
  f.push(`"tree":${s.tree ? `"${s.tree}"` : 'null'}`);
  f.push(`"paths":${s.paths ? goJsonStrings(s.paths) : 'null'}`);
  if (s.hostname) f.push(`"hostname":${goJsonString(s.hostname)}`);
  if (s.username) f.push(`"username":${goJsonString(s.username)}`);
  if (s.uid) f.push(`"uid":${s.uid}`);
  if (s.gid) f.push(`"gid":${s.gid}`);
  if (s.excludes?.length) f.push(`"excludes":${goJsonStrings(s.excludes)}`);
  if (s.tags?.length) f.push(`"tags":${goJsonStrings(s.tags)}`);
  if (s.original) f.push(`"original":"${s.original}"`);
  if (s.programVersion) f.push(`"program_version":${goJsonString(s.programVersion)}`);
  return Buffer.from('{' + f.join(',') + '}');
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
  if (raw.summary !== undefined) s.summary = raw.summary;
  return s;
}

/**
 * A snapshot as restic 0.14 marshals its Snapshot struct (compact): the time re-encoded,
 * fields restic 0.14 does not know (program_version, summary) left out.
 */
export function snapshotJson014(s: Snapshot): string {
  const body = Buffer.from(encodeSnapshot({ ...s, time: goTimeJson(s.time), programVersion: undefined, summary: undefined })).toString(
    'utf8',
  );
  return body;
}

/** The `ls --json` / `snapshots --json` form: the snapshot followed by id and short_id (and extra fields). */
export function snapshotJsonWithId(s: Snapshot, id: string, extra = ''): string {
  return `${snapshotJson014(s).slice(0, -1)},"id":"${id}","short_id":"${id.slice(0, 8)}"${extra}}`;
}
