/**
 * Live progress for backup and restore: one status line rewritten in place on a terminal
 * (files, bytes, throughput, ETA), as restic's termstatus does. Nothing is drawn on a pipe;
 * there `--json` gives status lines instead.
 */
import fs from 'node:fs';
import path from 'node:path';
import { resticFormatBytes } from './format.js';
import { formatDuration } from './duration.js';

/** restic's RESTIC_PROGRESS_FPS sets how often progress is reported (default once a second). */
export function progressInterval(env: NodeJS.ProcessEnv): number {
  const fps = Number(env.RESTIC_PROGRESS_FPS);
  return fps > 0 ? Math.max(1, 1000 / fps) : 1000;
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
 * Counts the files and bytes below the backup targets in the background (like restic's
 * scanner) so the progress line can show a total and an ETA. It only stats; it never
 * reads file content, and excludes are not applied (the total is an estimate).
 */
export class Scanner {
  files = 0;
  bytes = 0;
  done = false;
  private stopped = false;

  start(targets: string[]): void {
    void this.run(targets).finally(() => (this.done = true));
  }

  stop(): void {
    this.stopped = true;
  }

  private async run(targets: string[]): Promise<void> {
    const stack = targets.map((t) => path.resolve(t));
    while (stack.length && !this.stopped) {
      const p = stack.pop()!;
      let st: fs.Stats;
      try {
        st = await fs.promises.lstat(p);
      } catch {
        continue;
      }
      if (st.isDirectory()) {
        try {
          for (const name of await fs.promises.readdir(p)) stack.push(path.join(p, name));
        } catch {
          // unreadable directories are the archiver's to report
        }
      } else {
        this.files++;
        if (st.isFile()) this.bytes += st.size;
      }
    }
  }
}
