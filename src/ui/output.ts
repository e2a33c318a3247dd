/**
 * Byte-exact standard output for the read commands: restic prints names and file
 * contents as raw bytes (which need not be UTF-8), and `dump`/`cat pack` can be large,
 * so output is batched, written as bytes and waits for the pipe to drain.
 */
import type { Writable } from 'node:stream';
import type { ByteString } from '../go/bytestring.js';

const BATCH = 64 * 1024;
/** How long output loops may go without letting the event loop run. */
const TURN_MS = 20;

export class Out {
  private parts: Buffer[] = [];
  private size = 0;
  /** When the event loop last ran between writes (see writeNow). */
  private turn = performance.now();

  constructor(private readonly stream: Writable = process.stdout) {}

  /** Text, written as UTF-8. */
  text(s: string): Promise<void> {
    return this.bytes(Buffer.from(s, 'utf8'));
  }

  /** A byte string (one char per byte) as its bytes. */
  bstr(s: ByteString): Promise<void> {
    return this.bytes(Buffer.from(s, 'latin1'));
  }

  async bytes(b: Uint8Array): Promise<void> {
    if (b.length >= BATCH) {
      await this.flush();
      await this.writeNow(Buffer.from(b.buffer, b.byteOffset, b.byteLength));
      return;
    }
    this.parts.push(Buffer.from(b));
    this.size += b.length;
    if (this.size >= BATCH) await this.flush();
  }

  async flush(): Promise<void> {
    if (!this.size) return;
    const chunk = Buffer.concat(this.parts, this.size);
    this.parts = [];
    this.size = 0;
    await this.writeNow(chunk);
  }

  private writeNow(chunk: Buffer): Promise<void> {
    return new Promise((resolve, reject) => {
      const onError = (err: Error) => reject(err);
      this.stream.once('error', onError);
      const ok = this.stream.write(chunk, (err) => {
        if (err) reject(err);
      });
      const done = () => {
        this.stream.off('error', onError);
        resolve();
      };
      if (!ok) this.stream.once('drain', done);
      else if (performance.now() - this.turn < TURN_MS) done();
      else {
        // a pipe that keeps up never makes the caller wait: let signals and timers in now and then
        this.turn = performance.now();
        setImmediate(done);
      }
    });
  }
}
