/** Go's time.Time as text: JSON (RFC 3339), String(), now and stat times in the local zone. */
import { formatGoTime, formatLocalGoTime, localOffsetMinutes, parseGoTime } from './json.js';

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
