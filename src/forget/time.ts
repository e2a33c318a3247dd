/**
 * Snapshot times as Go's time.Time sees them after parsing restic's JSON: an instant
 * (nanoseconds) plus the wall clock in the recorded offset. Forget buckets use that wall
 * clock, and keep-within durations use Go's calendar arithmetic (AddDate).
 */
import { civilFromDays, daysFromCivil } from '../go/civil.js';
import { localOffsetMinutes, parseGoTime } from '../go/time.js';

export interface WallTime {
  /** Nanoseconds since the Unix epoch. */
  ns: bigint;
  year: number;
  month: number;
  day: number;
  hour: number;
  minute: number;
  second: number;
  nsec: number;
  /** Offset east of UTC in seconds. */
  offset: number;
  /**
   * Go's time.Parse attaches time.Local when the offset equals the local zone's at that
   * instant (and "Z" means UTC); calendar arithmetic then follows the local zone's rules.
   */
  local: boolean;
}

const NS = 1_000_000_000n;

const localOffsetSec = (unixSec: number) => Math.round(localOffsetMinutes(unixSec * 1000) * 60);

/** Wall clock of an instant at a fixed offset. */
function wallAt(ns: bigint, offset: number, local: boolean): WallTime {
  let sec = ns / NS;
  let nsec = Number(ns - sec * NS);
  if (nsec < 0) {
    sec -= 1n;
    nsec += 1_000_000_000;
  }
  const localSec = Number(sec) + offset;
  const days = Math.floor(localSec / 86400);
  const sod = localSec - days * 86400;
  const [year, month, day] = civilFromDays(days);
  return { ns, year, month, day, hour: Math.floor(sod / 3600), minute: Math.floor(sod / 60) % 60, second: sod % 60, nsec, offset, local };
}

/** A stored snapshot time as Go parses it. */
export function parseWallTime(s: string): WallTime {
  const g = parseGoTime(s);
  const ns = g.sec * NS + BigInt(g.nsec);
  const offset = Math.round(g.offsetMinutes * 60);
  const local = !/Z$/i.test(s) && localOffsetSec(Number(g.sec)) === offset;
  return wallAt(ns, offset, local);
}

/** Go's zero time.Time (January 1, year 1, 00:00:00 UTC). */
export const ZERO_TIME: WallTime = wallAt(BigInt(daysFromCivil(1, 1, 1)) * 86400n * NS, 0, false);

/** Go's t.AddDate(years, months, days): calendar arithmetic in t's zone, then normalized. */
export function addDate(t: WallTime, years: number, months: number, days: number): WallTime {
  const d = daysFromCivil(t.year + years, t.month + months, t.day + days);
  const localSec = d * 86400 + t.hour * 3600 + t.minute * 60 + t.second;
  let offset = t.offset;
  if (t.local) {
    // Go's Date: look up the zone at the wall time taken as UTC, then re-check at the result
    const first = localOffsetSec(localSec);
    offset = localOffsetSec(localSec - first);
  }
  const ns = BigInt(localSec - offset) * NS + BigInt(t.nsec);
  return wallAt(ns, t.local ? localOffsetSec(localSec - offset) : offset, t.local);
}

/** Go's t.Add(h * time.Hour). */
export function addHours(t: WallTime, hours: number): WallTime {
  const ns = t.ns + BigInt(hours) * 3600n * NS;
  const offset = t.local ? localOffsetSec(Number(ns / NS)) : t.offset;
  return wallAt(ns, offset, t.local);
}

/** Go's ISOWeek: [ISO year, week 1…53]. */
export function isoWeek(t: WallTime): [number, number] {
  const days = daysFromCivil(t.year, t.month, t.day);
  const weekday = (((days + 4) % 7) + 7) % 7; // 0 = Sunday; 1970-01-01 was a Thursday
  let shift = 4 - weekday; // move to the Thursday of the same ISO week
  if (shift === 4) shift = -3;
  const thursday = days + shift;
  const [year] = civilFromDays(thursday);
  const yday = thursday - daysFromCivil(year, 1, 1);
  return [year, Math.floor(yday / 7) + 1];
}
