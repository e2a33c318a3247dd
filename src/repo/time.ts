/** Current time and stat times as Go's time.Time JSON text, in the machine's local zone. */
import { formatLocalGoTime } from './gojson.js';

/** Time from nanoseconds since the epoch, printed with the local zone offset at that instant. */
export function goTimeFromNs(ns: bigint): string {
  const sec = ns / 1_000_000_000n - (ns < 0n && ns % 1_000_000_000n !== 0n ? 1n : 0n);
  const nsec = Number(ns - sec * 1_000_000_000n);
  return formatLocalGoTime(sec, nsec);
}

/** Now, with sub-millisecond precision where the platform offers it. */
export function nowGoTime(): string {
  const ms = performance.timeOrigin + performance.now();
  return goTimeFromNs(BigInt(Math.floor(ms * 1000)) * 1000n);
}
