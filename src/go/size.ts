/** Byte sizes with binary K/M/G/T suffixes, as restic's flags take them. */
import { UsageError } from '../errors.js';

const MULTIPLIER: Record<string, number> = { '': 1, k: 2 ** 10, m: 2 ** 20, g: 2 ** 30, t: 2 ** 40 };
/** restic's parseSizeStr: digits, one optional unit letter, an optional "b". */
const RESTIC_SIZE = /^(\d+)([kKmMgGtT]?)[bB]?$/;
/** Also "2 GiB", "500 M", "7 b" (rest-server's size flags). */
const LENIENT_SIZE = /^(\d+)\s*([kmgt]i?b?|b)?$/i;

/** Bytes for a size text (surrounding spaces ignored), or undefined when it is not one. */
export function sizeBytes(s: string, lenient = false): number | undefined {
  const m = (lenient ? LENIENT_SIZE : RESTIC_SIZE).exec(s.trim());
  if (!m) return undefined;
  return Number(m[1]) * (MULTIPLIER[(m[2] ?? '').toLowerCase().charAt(0)] ?? 1);
}

/** "10M", "1G", "500k", "123" → bytes (restic's parseSizeStr). */
export function parseSize(s: string): number {
  const n = sizeBytes(s);
  if (n === undefined) throw new UsageError(`invalid size ${JSON.stringify(s)}`);
  return n;
}
