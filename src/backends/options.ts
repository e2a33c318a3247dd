/** Parsing of backends' `-o key=value` options (connections, retries, timeouts). */
import { UsageError } from '../errors.js';

/** A whole number ≥ min. */
export function parseIntOption(name: string, v: string, min: number): number {
  const n = Number(v);
  if (!/^\d+$/.test(v) || !Number.isSafeInteger(n) || n < min) throw new UsageError(`invalid value for -o ${name}: ${JSON.stringify(v)}`);
  return n;
}

/** "30", "30s", "500ms", "2m" → milliseconds. */
export function parseDurationOption(name: string, v: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m)?$/.exec(v.trim());
  if (!m) throw new UsageError(`invalid value for -o ${name}: ${JSON.stringify(v)} (use e.g. 30s or 500ms)`);
  const n = Number(m[1]) * (m[2] === 'ms' ? 1 : m[2] === 'm' ? 60_000 : 1000);
  if (n <= 0) throw new UsageError(`invalid value for -o ${name}: ${JSON.stringify(v)}`);
  return Math.round(n);
}
