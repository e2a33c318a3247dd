/**
 * The lock file object (`locks/<id>`, decrypted) as restic 0.14 writes it, and how restic
 * describes a lock and judges conflicts. Taking, refreshing and clearing locks in a
 * repository is repository/lock.ts.
 */
import { goJsonString } from '../go/json-string.js';
import { FormatError } from '../errors.js';
import { parseJson } from '../go/json-parse.js';
import { parseGoTime } from '../go/time.js';
import { formatGoDuration } from '../go/duration.js';

/** A lock file's content: who holds the lock, since when, exclusive or not. */
export interface LockInfo {
  time: string;
  exclusive: boolean;
  hostname: string;
  username: string;
  pid: number;
  uid?: number;
  gid?: number;
}

/** The lock JSON restic writes (uid/gid omitted when 0). */
export function encodeLock(l: LockInfo): Uint8Array {
  let json =
    `{"time":${goJsonString(l.time)},"exclusive":${l.exclusive},"hostname":${goJsonString(l.hostname)},` +
    `"username":${goJsonString(l.username)},"pid":${l.pid}`;
  if (l.uid) json += `,"uid":${l.uid}`;
  if (l.gid) json += `,"gid":${l.gid}`;
  return Buffer.from(json + '}');
}

/** A decrypted lock file; missing fields read as Go zero values, wrong types are refused (as Go's json). */
export function decodeLock(plain: Uint8Array): LockInfo {
  const o = parseJson(plain) as Record<string, unknown>;
  if (!o || typeof o !== 'object' || Array.isArray(o)) throw new FormatError('lock file is not a JSON object');
  const field = <T>(name: string, type: 'string' | 'number', zero: T): T => {
    const v = o[name];
    if (v === undefined || v === null) return zero;
    if (typeof v !== type) throw new FormatError(`lock file: "${name}" is not a ${type}`);
    return v as T;
  };
  return {
    time: field('time', 'string', ''),
    exclusive: o.exclusive === true,
    hostname: field('hostname', 'string', ''),
    username: field('username', 'string', ''),
    pid: field('pid', 'number', 0),
    uid: typeof o.uid === 'number' ? o.uid : undefined,
    gid: typeof o.gid === 'number' ? o.gid : undefined,
  };
}

/** Milliseconds since the epoch of the lock's time; NaN when unreadable. */
export function lockTimeMs(l: LockInfo): number {
  try {
    const p = parseGoTime(l.time);
    return Number(p.sec) * 1000 + p.nsec / 1e6;
  } catch {
    return NaN;
  }
}

/** "2006-01-02 15:04:05" in this machine's zone, as restic prints lock times. */
function localTimeText(ms: number): string {
  if (Number.isNaN(ms)) return '(invalid time)';
  const d = new Date(ms);
  const p = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

/**
 * restic's Lock.String() on one line: holder, creation time and age, storage ID.
 *
 * @example
 * ```ts
 * for (const { id, lock } of await repo.listLocks()) console.log(describeLock(id, lock));
 * ```
 */
export function describeLock(id: string, l: LockInfo, now = Date.now()): string {
  const t = lockTimeMs(l);
  const age = Number.isNaN(t) ? '' : ` (${formatGoDuration(now - t)} ago)`;
  return (
    `PID ${l.pid} on ${l.hostname} by ${l.username} (UID ${l.uid ?? 0}, GID ${l.gid ?? 0}), ` +
    `lock was created at ${localTimeText(t)}${age}, storage ID ${id.slice(0, 8)}`
  );
}

/** Whether an existing lock blocks taking a lock of the given kind. */
export function conflicts(wantExclusive: boolean, other: LockInfo): boolean {
  return wantExclusive || other.exclusive;
}
