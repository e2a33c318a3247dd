/**
 * Live progress for backup and restore: one status line rewritten in place on a terminal
 * (files, bytes, throughput, ETA), as restic's termstatus does. Nothing is drawn on a pipe;
 * there `--json` gives status lines instead.
 */
import { resticFormatBytes } from './format.js';
import { formatDuration } from './duration.js';

/**
 * restic's CalculateProgressInterval (≥ 0.17): 10 updates a second, or RESTIC_PROGRESS_FPS of
 * them (at most 60). Milliseconds.
 */
export function progressInterval(env: NodeJS.ProcessEnv): number {
  const fps = Number(env.RESTIC_PROGRESS_FPS);
  return fps > 0 ? 1000 / Math.min(fps, 60) : 100;
}

/** A status line on a terminal: each update overwrites the previous one. */
export class StatusLine {
  private shown = false;

  constructor(private readonly stream: NodeJS.WriteStream = process.stdout) {}

  /** Whether a live line can be drawn (the stream is a terminal). */
  static available(stream: NodeJS.WriteStream = process.stdout): boolean {
    return !!stream.isTTY;
  }

  update(text: string): void {
    const width = this.stream.columns || 0;
    const line = width > 1 && text.length >= width ? text.slice(0, width - 1) : text;
    this.stream.write(`\r\x1b[2K${line}`);
    this.shown = true;
  }

  /** Remove the line so the summary starts on a clean line. */
  clear(): void {
    if (this.shown) this.stream.write('\r\x1b[2K');
    this.shown = false;
  }
}

/** "[m:ss] 42.00%  …" percent as Go's "%3.2f%%", empty without a total. */
export function formatPercent(done: number, total: number): string {
  if (total <= 0) return '';
  return `${Math.min(100, (100 * done) / total).toFixed(2)}%`;
}

/** Throughput and, when the total is known, the time left at that rate. */
export function rateAndEta(bytesDone: number, bytesTotal: number | undefined, seconds: number): string {
  if (seconds <= 0) return '';
  const rate = bytesDone / seconds;
  let s = `, ${resticFormatBytes(Math.round(rate))}/s`;
  if (bytesTotal !== undefined && rate > 0 && bytesDone < bytesTotal)
    s += ` ETA ${formatDuration(((bytesTotal - bytesDone) / rate) * 1000)}`;
  return s;
}
