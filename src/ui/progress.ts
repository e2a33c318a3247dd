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

/**
 * restic's newProgressMax counter on stdout, "[0:01] 42.00%  21 / 50 packs": live on a terminal,
 * and its final state once the phase ends (on a pipe followed by an empty line, as restic prints it).
 */
export class ProgressCounter {
  private readonly live: boolean;
  private readonly start = Date.now();
  private state: { done: number; total: number; what: string } | null = null;
  private last = 0;

  constructor(
    private readonly write: (s: string) => void,
    private readonly show: boolean,
    stream: NodeJS.WriteStream = process.stdout,
  ) {
    this.live = show && !!stream.isTTY;
  }

  private text(): string {
    const { done, total, what } = this.state!;
    const elapsed = `[${formatDuration(Date.now() - this.start)}]`;
    if (!total) return `${elapsed}          ${done} ${what}`;
    return `${elapsed} ${((done / total) * 100).toFixed(2)}%  ${done} / ${total} ${what}`;
  }

  update(done: number, total: number, what: string): void {
    if (!this.show) return;
    if (this.state && this.state.what !== what) this.end();
    this.state = { done, total, what };
    const now = Date.now();
    if (!this.live || (done < total && now - this.last < 100)) return;
    this.last = now;
    this.write(`\r\x1b[K${this.text()}`);
  }

  end(): void {
    if (!this.state) return;
    this.write(this.live ? `\r\x1b[K${this.text()}\n` : `${this.text()}\n\n`);
    this.state = null;
  }
}
