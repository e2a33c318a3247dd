/** Current time and stat times as Go's time.Time JSON text, in the machine's local zone. */
import { formatLocalGoTime } from './json.js';

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
