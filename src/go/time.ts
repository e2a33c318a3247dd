/** Go's time.Time as text: JSON (RFC 3339), String(), now and stat times in the local zone. */
import { FormatError } from '../errors.js';
import { civilFromDays, daysFromCivil } from './civil.js';

export interface GoTime {
  /** Seconds since the Unix epoch (UTC). */
  sec: bigint;
  /** 0 … 999 999 999 */
  nsec: number;
  /** Zone offset east of UTC in minutes (fractional when the zone has seconds, e.g. LMT). */
  offsetMinutes: number;
}

function pad(n: number, width: number): string {
  return String(n).padStart(width, '0');
}

/**
 * Go's `time.Time` JSON text for an instant shown at a fixed zone offset, as restic writes
 * node times: RFC3339Nano (trailing fractional zeros trimmed), `Z` for offset 0. Years
 * outside 0…9999 are clamped like restic's FixTime (only the year changes, Feb 29 rolls to
 * Mar 1 in a non-leap year); Go would re-evaluate a named zone's offset there, we keep it.
 */
export function formatGoTime(sec: bigint, nsec: number, offsetMinutes: number): string {
  if (!Number.isInteger(nsec) || nsec < 0 || nsec > 999_999_999) throw new RangeError(`nsec out of range: ${nsec}`);
  const offSec = Math.round(offsetMinutes * 60);
  const local = Number(sec) + offSec;
  const days = Math.floor(local / 86400);
  const sod = local - days * 86400;
  let [y, m, d] = civilFromDays(days);
  if (y < 0 || y > 9999) [y, m, d] = civilFromDays(daysFromCivil(y < 0 ? 0 : 9999, m, d));
  let out =
    pad(y, 4) +
    '-' +
    pad(m, 2) +
    '-' +
    pad(d, 2) +
    'T' +
    pad(Math.floor(sod / 3600), 2) +
    ':' +
    pad(Math.floor(sod / 60) % 60, 2) +
    ':' +
    pad(sod % 60, 2);
  out += nanoFraction(nsec);
  return out + formatZone(offSec);
}

/** Go's "Z07:00": hours and minutes of the offset, seconds dropped (truncated toward 0). */
function formatZone(offSec: number): string {
  if (offSec === 0) return 'Z';
  const zoneMin = Math.trunc(offSec / 60);
  const sign = zoneMin < 0 ? '-' : '+';
  const abs = Math.abs(zoneMin);
  return sign + pad(Math.floor(abs / 60), 2) + ':' + pad(abs % 60, 2);
}

// JS Date range minus two days, so the local wall clock stays representable too.
const MAX_DATE_MS = 8.64e15 - 2 * 86_400_000;

/**
 * Offset east of UTC (minutes, fractional when the zone offset has seconds) of this
 * machine's local zone at the instant, i.e. what Go's time.Local would use.
 */
export function localOffsetMinutes(epochMs: number): number {
  const ms = Math.min(MAX_DATE_MS, Math.max(-MAX_DATE_MS, Math.floor(epochMs / 1000) * 1000));
  const d = new Date(ms);
  // getTimezoneOffset() truncates LMT offsets like +00:09:21; the local fields do not.
  const wall = new Date(0);
  wall.setUTCFullYear(d.getFullYear(), d.getMonth(), d.getDate()); // (Date.UTC maps years 0…99 to 19xx)
  wall.setUTCHours(d.getHours(), d.getMinutes(), d.getSeconds(), 0);
  return (wall.getTime() - ms) / 60000;
}

/**
 * A zone offset is taken as constant over a window when it is the same at both ends: tz
 * transitions are months (at the very least days) apart, never two within one window.
 */
const OFFSET_WINDOW_SEC = 900;
const offsetCache = new Map<number, number>();
/** Whole-second text ("2006-01-02T15:04:05", zone) per epoch second; files share seconds. */
const secondCache = new Map<number, { clock: string; zone: string }>();
const CACHE_LIMIT = 1 << 14;

/** localOffsetMinutes for a whole epoch second, memoised per constant-offset window. */
function cachedLocalOffset(sec: number): number {
  const w = Math.floor(sec / OFFSET_WINDOW_SEC);
  let off = offsetCache.get(w);
  if (off !== undefined) return off;
  const start = w * OFFSET_WINDOW_SEC;
  off = localOffsetMinutes(start * 1000);
  if (localOffsetMinutes((start + OFFSET_WINDOW_SEC - 1) * 1000) !== off) return localOffsetMinutes(sec * 1000);
  if (offsetCache.size >= CACHE_LIMIT) offsetCache.clear();
  offsetCache.set(w, off);
  return off;
}

/** ".123" for nsec 123000000: RFC3339Nano's fraction, trailing zeros trimmed; '' for 0. */
function nanoFraction(nsec: number): string {
  if (nsec === 0) return '';
  const digits = String(nsec + 1_000_000_000); // "1" + nine digits
  let end = 10;
  while (digits.charCodeAt(end - 1) === 0x30) end--;
  return '.' + digits.slice(1, end);
}

/** Node time text for a stat timestamp, in the local zone (what restic 0.14 stores). */
export function formatLocalGoTime(sec: bigint, nsec: number): string {
  const s = Number(sec);
  if (!Number.isSafeInteger(s) || !Number.isInteger(nsec) || nsec < 0 || nsec > 999_999_999) {
    return formatGoTime(sec, nsec, localOffsetMinutes(s * 1000));
  }
  let c = secondCache.get(s);
  if (c === undefined) {
    const offSec = Math.round(cachedLocalOffset(s) * 60);
    const whole = formatGoTime(sec, 0, offSec / 60);
    const zone = formatZone(offSec);
    c = { clock: whole.slice(0, whole.length - zone.length), zone };
    if (secondCache.size >= CACHE_LIMIT) secondCache.clear();
    secondCache.set(s, c);
  }
  return c.clock + nanoFraction(nsec) + c.zone;
}

const GO_TIME = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:[.,](\d+))?(?:(Z)|([+-])(\d{2}):(\d{2}))$/;
const DAYS_IN_MONTH = [31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

function isLeap(y: number): boolean {
  return y % 4 === 0 && (y % 100 !== 0 || y % 400 === 0);
}

/** Parses Go's RFC3339 JSON time text (what time.UnmarshalJSON accepts from restic). */
export function parseGoTime(s: string): GoTime {
  const m = GO_TIME.exec(s);
  if (m === null) throw new FormatError(`invalid time ${JSON.stringify(s)}`);
  const [y, mo, d, h, mi, se] = [1, 2, 3, 4, 5, 6].map((i) => Number(m[i]));
  if (mo! < 1 || mo! > 12 || d! < 1 || d! > DAYS_IN_MONTH[mo! - 1]! || (mo === 2 && d === 29 && !isLeap(y!)))
    throw new FormatError(`invalid date in time ${JSON.stringify(s)}`);
  if (h! > 23 || mi! > 59 || se! > 59) throw new FormatError(`invalid clock in time ${JSON.stringify(s)}`);
  // Go reads at most 9 fractional digits' worth of precision; the rest is truncated.
  const nsec = m[7] === undefined ? 0 : Number(m[7].slice(0, 9).padEnd(9, '0'));
  let offsetMinutes = 0;
  if (m[8] === undefined) {
    const oh = Number(m[10]);
    const om = Number(m[11]);
    if (oh > 24 || om > 59) throw new FormatError(`invalid zone in time ${JSON.stringify(s)}`);
    offsetMinutes = (m[9] === '-' ? -1 : 1) * (oh * 60 + om);
  }
  const local = daysFromCivil(y!, mo!, d!) * 86400 + h! * 3600 + mi! * 60 + se!;
  return { sec: BigInt(local - offsetMinutes * 60), nsec, offsetMinutes };
}

/** The instant as a JS Date (millisecond precision, zone dropped). */
export function goTimeToDate(t: string | GoTime): Date {
  const g = typeof t === 'string' ? parseGoTime(t) : t;
  return new Date(Number(g.sec) * 1000 + Math.floor(g.nsec / 1e6));
}

const NS_PER_SEC = 1_000_000_000n;

/** Time from nanoseconds since the epoch, printed with the local zone offset at that instant. */
export function goTimeFromNs(ns: bigint): string {
  let sec = ns / NS_PER_SEC; // truncates toward zero
  let nsec = Number(ns - sec * NS_PER_SEC);
  if (nsec < 0) {
    sec -= 1n;
    nsec += 1_000_000_000;
  }
  return formatLocalGoTime(sec, nsec);
}

/** Now, with sub-millisecond precision where the platform offers it. */
export function nowGoTime(): string {
  const ms = performance.timeOrigin + performance.now();
  return goTimeFromNs(BigInt(Math.floor(ms * 1000)) * 1000n);
}

/** A stored time as Go re-marshals it after parsing (RFC3339Nano, trailing zeros trimmed, Z for UTC). */
export function goTimeJson(t: string): string {
  const g = parseGoTime(t);
  return formatGoTime(g.sec, g.nsec, g.offsetMinutes);
}

/** Short zone name of this machine's zone at an instant, when Intl knows one. */
function localZoneName(epochMs: number): string | undefined {
  try {
    const parts = new Intl.DateTimeFormat('en-US', { timeZoneName: 'short' }).formatToParts(new Date(epochMs));
    const name = parts.find((p) => p.type === 'timeZoneName')?.value;
    if (name && /^[A-Z]{2,5}$/.test(name)) return name;
  } catch {
    // no Intl zone data
  }
  return undefined;
}

/**
 * Go's time.Time.String() for a parsed time: "2006-01-02 15:04:05.999999999 -0700 MST".
 * A time whose offset is the local zone's is shown with the local zone's name (as Go's
 * time.Parse attaches time.Local then); other offsets have no name and repeat the offset.
 */
export function goTimeString(t: string): string {
  const g = parseGoTime(t);
  const s = formatGoTime(g.sec, g.nsec, g.offsetMinutes);
  const m = /^(\d{4}-\d{2}-\d{2})T(\d{2}:\d{2}:\d{2}(?:\.\d+)?)/.exec(s)!;
  const off = Math.round(g.offsetMinutes);
  const abs = Math.abs(off);
  const num = (off < 0 ? '-' : '+') + String(Math.floor(abs / 60)).padStart(2, '0') + String(abs % 60).padStart(2, '0');
  const ms = Number(g.sec) * 1000;
  let name: string = num;
  if (localOffsetMinutes(ms) === g.offsetMinutes) name = localZoneName(ms) ?? (off === 0 ? 'UTC' : num);
  else if (off === 0 && /Z$/.test(t)) name = 'UTC';
  return `${m[1]} ${m[2]} ${num} ${name}`;
}

/** Order of Go RFC3339 times (different zones allowed). */
export function compareGoTimes(a: string, b: string): number {
  const ta = Date.parse(a);
  const tb = Date.parse(b);
  if (ta !== tb) return ta - tb;
  return fracNs(a) - fracNs(b);
}

function fracNs(t: string): number {
  const m = /\.(\d+)/.exec(t);
  return m ? Number(m[1]!.padEnd(9, '0').slice(3, 9)) : 0;
}

/**
 * restic's TimeFormat "2006-01-02 15:04:05" read in the local zone (time.ParseInLocation),
 * as `backup --time` and `rewrite --new-time` take it; returns Go RFC 3339 text.
 */
export function parseLocalTime(v: string): string {
  const m = /^(\d{4})-(\d{2})-(\d{2}) (\d{2}):(\d{2}):(\d{2})$/.exec(v);
  if (!m) throw new Error(`parsing time ${JSON.stringify(v)} as "2006-01-02 15:04:05": cannot parse ${JSON.stringify(v)}`);
  const d = new Date(+m[1]!, +m[2]! - 1, +m[3]!, +m[4]!, +m[5]!, +m[6]!);
  return formatLocalGoTime(BigInt(Math.floor(d.getTime() / 1000)), 0);
}
