/** Go's time.Duration text: String() and ParseDuration, in milliseconds. */

/** Go's time.Duration.String() for a span in milliseconds (e.g. "5m3.25s", "850ms"). */
export function formatGoDuration(ms: number): string {
  if (ms === 0) return '0s';
  const neg = ms < 0;
  let rest = Math.abs(ms);
  let out: string;
  if (rest < 1000) {
    out = `${+rest.toFixed(3)}ms`;
  } else {
    const h = Math.floor(rest / 3_600_000);
    rest -= h * 3_600_000;
    const m = Math.floor(rest / 60_000);
    rest -= m * 60_000;
    const s = +(rest / 1000).toFixed(3);
    out = (h ? `${h}h` : '') + (h || m ? `${m}m` : '') + `${s}s`;
  }
  return (neg ? '-' : '') + out;
}

/** Go's time.ParseDuration (units ns, us, µs, ms, s, m, h) to milliseconds. */
export function parseGoDuration(text: string): number {
  const units: Record<string, number> = { ns: 1e-6, us: 1e-3, µs: 1e-3, μs: 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
  const s = text.trim();
  if (s === '0') return 0;
  const re = /(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)/y;
  let total = 0;
  let i = s.startsWith('-') || s.startsWith('+') ? 1 : 0;
  if (i === s.length) throw new RangeError(`invalid duration ${JSON.stringify(text)}`);
  while (i < s.length) {
    re.lastIndex = i;
    const m = re.exec(s);
    if (!m) throw new RangeError(`invalid duration ${JSON.stringify(text)}`);
    total += Number(m[1]) * units[m[2]!]!;
    i = re.lastIndex;
  }
  return s.startsWith('-') ? -total : total;
}
