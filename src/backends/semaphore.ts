/** Counting semaphore: bounds the requests (or open files) a backend has in flight. */
import { UsageError } from '../errors.js';

export class Semaphore {
  private free: number;
  private readonly waiting: Array<() => void> = [];

  constructor(n: number) {
    if (!Number.isInteger(n) || n < 1) throw new UsageError(`invalid number of connections: ${n}`);
    this.free = n;
  }

  acquire(): Promise<void> {
    if (this.free > 0) {
      this.free--;
      return Promise.resolve();
    }
    return new Promise((resolve) => this.waiting.push(resolve));
  }

  release(): void {
    const next = this.waiting.shift();
    if (next) next();
    else this.free++;
  }
}
