/**
 * restic's rateEstimator: bytes per second over a sliding window of one-second buckets (about
 * two minutes, but never fewer than 20 buckets or 100 MB, so slow and bursty transfers over a
 * rate-limited link do not make the estimate swing).
 */
const BUCKET_MS = 1000;
const MIN_BYTES = 100 * 1000 * 1000;
const MIN_BUCKETS = 20;
const WINDOW_MS = 2 * 60 * 1000;

export class RateEstimator {
  private readonly buckets: Array<{ bytes: number; end: number }> = [];
  private total = 0;

  constructor(private start: number) {}

  record(now: number, bytes: number): void {
    if (bytes <= 0) return;
    let tail = this.buckets[this.buckets.length - 1];
    if (!tail || tail.end <= now) {
      tail = { bytes: 0, end: now + BUCKET_MS };
      this.buckets.push(tail);
    }
    tail.bytes += bytes;
    this.total += bytes;
    this.trim(now);
  }

  /** Bytes per second, or 0 without enough data. */
  rate(now: number): number {
    this.trim(now);
    if (this.start >= now) return 0;
    return this.total / ((now - this.start) / 1000);
  }

  private trim(now: number): void {
    const from = now - WINDOW_MS;
    while (this.buckets.length > MIN_BUCKETS) {
      const b = this.buckets[0]!;
      if (b.end > from || this.total - b.bytes < MIN_BYTES) break;
      this.start = b.end;
      this.total -= b.bytes;
      this.buckets.shift();
    }
  }
}
