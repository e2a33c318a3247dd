/**
 * Lock files (`locks/<id>`). A non-exclusive lock conflicts only with an exclusive one;
 * an exclusive lock conflicts with any. Locks are refreshed every 5 minutes so other
 * processes can tell a live holder from a stale one.
 */
import os from 'node:os';
import { LockError } from '../errors.js';
import { goJsonString, parseGoTime, parseJson } from './gojson.js';
import { nowGoTime } from './time.js';
import { safeUsername } from './key.js';

export interface LockInfo {
  time: string;
  exclusive: boolean;
  hostname: string;
  username: string;
  pid: number;
  uid?: number;
  gid?: number;
}

export function encodeLock(l: LockInfo): Uint8Array {
  let json =
    `{"time":${goJsonString(l.time)},"exclusive":${l.exclusive},"hostname":${goJsonString(l.hostname)},` +
    `"username":${goJsonString(l.username)},"pid":${l.pid}`;
  if (l.uid) json += `,"uid":${l.uid}`;
  if (l.gid) json += `,"gid":${l.gid}`;
  return Buffer.from(json + '}');
}

export function decodeLock(plain: Uint8Array): LockInfo {
  const o = parseJson(plain) as Record<string, unknown>;
  return {
    time: String(o.time ?? ''),
    exclusive: o.exclusive === true,
    hostname: String(o.hostname ?? ''),
    username: String(o.username ?? ''),
    pid: Number(o.pid ?? 0),
    uid: typeof o.uid === 'number' ? o.uid : undefined,
    gid: typeof o.gid === 'number' ? o.gid : undefined,
  };
}

export function newLockInfo(exclusive: boolean): LockInfo {
  return {
    time: nowGoTime(),
    exclusive,
    hostname: os.hostname(),
    username: safeUsername(),
    pid: process.pid,
    uid: process.getuid?.() ?? 0,
    gid: process.getgid?.() ?? 0,
  };
}

const STALE_AGE_MS = 30 * 60 * 1000;

/** restic's rule: older than 30 minutes, or on this host with a process that is gone. */
export function isStale(l: LockInfo, now = Date.now()): boolean {
  let t: number;
  try {
    const p = parseGoTime(l.time);
    t = Number(p.sec) * 1000 + p.nsec / 1e6;
  } catch {
    return true;
  }
  if (now - t > STALE_AGE_MS) return true;
  if (l.hostname !== os.hostname()) return false;
  try {
    process.kill(l.pid, 0);
    return false;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ESRCH';
  }
}

export function describeLock(id: string, l: LockInfo): string {
  return `lock ${id.slice(0, 8)} ${l.exclusive ? '(exclusive) ' : ''}was created at ${l.time} by PID ${l.pid} on ${l.hostname} by ${l.username}`;
}

export function conflictError(id: string, l: LockInfo): LockError {
  const how = l.exclusive ? 'exclusively ' : '';
  return new LockError(`unable to create lock in backend: repository is already locked ${how}by PID ${l.pid} on ${l.hostname} by ${l.username} (${describeLock(id, l)})`);
}
