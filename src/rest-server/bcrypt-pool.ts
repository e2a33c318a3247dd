/**
 * bcrypt off the event loop: a small pool of worker threads, so a burst of password checks
 * (a guessing attack) cannot stall the server's other requests. Workers start on first use
 * and never keep the process alive. Without the compiled worker file (tests running the
 * TypeScript sources) bcryptjs runs on the main thread instead, as it did before.
 */
import fs from 'node:fs';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import bcrypt from 'bcryptjs';

const WORKER_FILE = fileURLToPath(new URL('./bcrypt-worker.js', import.meta.url));

interface Job {
  resolve: (hash: string) => void;
  reject: (err: Error) => void;
}

export class BcryptPool {
  private workers: Worker[] = [];
  private readonly jobs = new Map<number, Job>();
  private seq = 0;
  private next = 0;

  constructor(private readonly size = Math.max(1, Math.min(2, os.availableParallelism() - 1))) {}

  /** bcrypt of `password` with the `$2b$cc$salt` prefix `salt` (29 characters). */
  hash(password: string, salt: string): Promise<string> {
    if (!fs.existsSync(WORKER_FILE)) return bcrypt.hash(password, salt);
    if (this.workers.length < this.size) this.workers.push(this.start());
    const w = this.workers[this.next++ % this.workers.length]!;
    const seq = this.seq++;
    return new Promise<string>((resolve, reject) => {
      this.jobs.set(seq, { resolve, reject });
      if (this.jobs.size === 1) this.workers.forEach((x) => x.ref());
      w.postMessage({ seq, password, salt });
    });
  }

  private start(): Worker {
    const w = new Worker(WORKER_FILE, { execArgv: [] });
    w.unref();
    w.on('message', (m: { seq: number; hash?: string; error?: string }) => {
      const job = this.jobs.get(m.seq);
      if (!job) return;
      this.jobs.delete(m.seq);
      if (this.jobs.size === 0) this.workers.forEach((x) => x.unref());
      if (m.hash !== undefined) job.resolve(m.hash);
      else job.reject(new Error(m.error ?? 'bcrypt failed'));
    });
    w.on('error', (err) => this.fail(w, err));
    w.on('exit', (code) => this.fail(w, new Error(`bcrypt worker exited with code ${code}`)));
    return w;
  }

  /** A dead worker: its jobs fail (the request is refused) and a new one takes its place later. */
  private fail(w: Worker, err: Error): void {
    const i = this.workers.indexOf(w);
    if (i < 0) return;
    this.workers.splice(i, 1);
    // Jobs are not tracked per worker; failing all waiting ones is rare and safe (a 401).
    for (const [seq, job] of this.jobs) {
      this.jobs.delete(seq);
      job.reject(err);
    }
  }

  async close(): Promise<void> {
    const ws = this.workers;
    this.workers = [];
    await Promise.all(ws.map((w) => w.terminate()));
  }
}
