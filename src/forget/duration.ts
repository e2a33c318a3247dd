/** restic's calendar durations for --keep-within*: `1y2m3d4h` (years, months, days, hours). */
import { UsageError } from '../errors.js';

export interface Duration {
  years: number;
  months: number;
  days: number;
  hours: number;
}

export function isZeroDuration(d: Duration | undefined): boolean {
  return !d || (d.years === 0 && d.months === 0 && d.days === 0 && d.hours === 0);
}

/** restic's Duration.String(): only the non-zero parts, e.g. "1y5d". */
export function formatDuration(d: Duration): string {
  let s = '';
  if (d.years) s += `${d.years}y`;
  if (d.months) s += `${d.months}m`;
  if (d.days) s += `${d.days}d`;
  if (d.hours) s += `${d.hours}h`;
  return s;
}

/**
 * restic's ParseDuration: number+unit pairs, each number optionally negative; a later
 * pair of the same unit replaces an earlier one. Units y, m, d, h.
 */
export function parseDuration(input: string): Duration {
  const d: Duration = { years: 0, months: 0, days: 0, hours: 0 };
  let s = input.trim();
  while (s !== '') {
    const m = /^(-?)(\d*)/.exec(s)!;
    if (m[2] === '') throw new UsageError(`invalid duration ${JSON.stringify(input)}: no number found`);
    const num = (m[1] ? -1 : 1) * Number(m[2]);
    s = s.slice(m[0].length);
    if (s === '') throw new UsageError(`invalid duration ${JSON.stringify(input)}: no unit found after number ${num}`);
    const unit = s[0]!;
    if (unit === 'y') d.years = num;
    else if (unit === 'm') d.months = num;
    else if (unit === 'd') d.days = num;
    else if (unit === 'h') d.hours = num;
    else throw new UsageError(`invalid duration ${JSON.stringify(input)}: invalid unit '${unit}' found after number ${num}`);
    s = s.slice(1);
  }
  return d;
}
