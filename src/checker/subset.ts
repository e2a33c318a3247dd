/**
 * `check --read-data-subset`: restic's three forms. `n/t` picks the packs whose first ID
 * byte modulo t is n−1 (so t runs cover everything exactly once); `x%` and a size pick
 * random packs.
 */
import { UsageError } from '../errors.js';
import { parseSize } from '../go/size.js';

/** The largest t in n/t: only the first ID byte is used. */
const TOTAL_BUCKETS_MAX = 256;

export type Subset = { kind: 'bucket'; n: number; t: number } | { kind: 'percent'; percent: number } | { kind: 'size'; bytes: number };

const INVALID = 'check flag --read-data-subset has invalid value, please see documentation';

/** Parse and validate the flag as restic's checkFlags does (same messages). */
export function parseSubset(s: string): Subset {
  if (/^\d+(\/\d+)*$/.test(s)) {
    const parts = s.split('/').map(Number);
    if (parts.length !== 2) throw new UsageError(INVALID);
    const [n, t] = parts as [number, number];
    if (n === 0 || t === 0 || n > t) {
      throw new UsageError('check flag --read-data-subset=n/t values must be positive integers, and n <= t, e.g. --read-data-subset=1/2');
    }
    if (t > TOTAL_BUCKETS_MAX) throw new UsageError(`check flag --read-data-subset=n/t t must be at most ${TOTAL_BUCKETS_MAX}`);
    return { kind: 'bucket', n, t };
  }
  if (s.endsWith('%')) {
    const body = s.slice(0, -1);
    const percent = Number(body);
    if (body.trim() === '' || !Number.isFinite(percent)) throw new UsageError(INVALID);
    if (percent <= 0 || percent > 100) throw new UsageError('check flag --read-data-subset=x% x must be above 0.0% and at most 100.0%');
    return { kind: 'percent', percent };
  }
  let bytes: number;
  try {
    bytes = parseSize(s);
  } catch {
    throw new UsageError(INVALID);
  }
  if (bytes <= 0) throw new UsageError('check flag --read-data-subset=n n must be above 0');
  return { kind: 'size', bytes };
}

export function selectByBucket(all: Map<string, number>, n: number, t: number): Map<string, number> {
  const out = new Map<string, number>();
  for (const [id, size] of all) if (parseInt(id.slice(0, 2), 16) % t === n - 1) out.set(id, size);
  return out;
}

export function selectByPercentage(all: Map<string, number>, percent: number, random: () => number = Math.random): Map<string, number> {
  const ids = [...all.keys()];
  let count = Math.floor(ids.length * (percent / 100));
  if (ids.length > 0 && count < 1) count = 1;
  // Fisher–Yates: the first `count` entries of a random permutation.
  for (let i = 0; i < count; i++) {
    const j = i + Math.floor(random() * (ids.length - i));
    [ids[i], ids[j]] = [ids[j]!, ids[i]!];
  }
  return new Map(ids.slice(0, count).map((id) => [id, all.get(id)!]));
}

/** restic turns a size into the same share of the repository's pack bytes. */
export function selectBySize(all: Map<string, number>, bytes: number, random?: () => number): Map<string, number> {
  let total = 0;
  for (const s of all.values()) total += s;
  if (total === 0) throw new UsageError('Cannot read from a repository having size 0');
  return selectByPercentage(all, (Math.min(bytes, total) / total) * 100, random);
}

export function selectPacks(all: Map<string, number>, subset: Subset): Map<string, number> {
  switch (subset.kind) {
    case 'bucket':
      return selectByBucket(all, subset.n, subset.t);
    case 'percent':
      return selectByPercentage(all, subset.percent);
    case 'size':
      return selectBySize(all, subset.bytes);
  }
}
