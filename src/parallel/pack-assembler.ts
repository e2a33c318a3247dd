/**
 * Assembling pack files from plaintext blobs, in memory or in a temp file as they grow. Shared
 * by the in-process path and the worker threads.
 */
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { type MasterKey, encryptInto, Extension, StreamEncryptor } from '../crypto/index.js';
import type { CompressionMode } from '../compress/zstd.js';
import type { BlobType } from '../format/blob.js';
import { entrySize, forEachHeaderPiece, HEADER_SIZE, MAX_HEADER_SIZE } from '../format/pack.js';
import { BlobList } from '../format/blob-list.js';
import { maybeCompress } from '../format/blob-codec.js';

/**
 * A finished pack file: its ID (SHA-256 of all bytes), blob list in file order, and either
 * its bytes or (when written to a file as it was assembled) the temp file holding them.
 */
export interface FinishedPack {
  id: string;
  bytes: Buffer;
  blobs: BlobList;
  /** Temp file with the complete pack (bytes is then empty); the caller commits or removes it. */
  file?: string;
  size: number;
}

/** Staging buffer of a pack written to a file: blobs gather here between writes. */
const STAGING_SIZE = 2 * 1024 * 1024;

/**
 * One pack being filled: encrypted blobs are written straight into its buffer and hashed as
 * they land. With a temp file, the buffer only stages blobs: it is written out whenever the
 * next blob does not fit, so a pack never sits in memory as a whole.
 */
class OpenPack {
  readonly blobs = new BlobList();
  readonly hash = createHash('sha256');
  /** Bytes already written to the file. */
  flushed = 0;
  used = 0;
  entries = 0;
  constructor(
    public buf: Buffer,
    readonly file: { path: string; fd: number } | null,
  ) {}

  /** Offset in the pack of the next byte. */
  get size(): number {
    return this.flushed + this.used;
  }

  /** Make room for `n` more bytes (in memory: rare, only a last big blob or a big header overflows). */
  reserve(n: number): void {
    if (this.used + n <= this.buf.length) return;
    if (this.file) {
      this.writeOut();
      if (n <= this.buf.length) return;
    }
    const bigger = Buffer.allocUnsafeSlow(Math.max(this.used + n, this.buf.length * 1.5) | 0);
    this.buf.copy(bigger, 0, 0, this.used);
    this.buf = bigger;
  }

  writeOut(): void {
    const f = this.file!;
    let off = 0;
    while (off < this.used) off += fs.writeSync(f.fd, this.buf, off, this.used - off, this.flushed + off);
    this.flushed += this.used;
    this.used = 0;
  }
}

/**
 * Builds pack files from plaintext blobs without intermediate copies: compression decision,
 * encryption into the pack buffer, incremental pack SHA-256, header and trailer. One per
 * thread that encodes blobs (the in-process path or a worker). Pack buffers can be handed
 * back with recycle() once uploaded, so a long backup allocates a few buffers only.
 */
export class PackAssembler {
  private readonly open: Record<BlobType, OpenPack | null> = { data: null, tree: null };
  private readonly spare: Buffer[] = [];

  /**
   * `tempDir`: write packs to temp files there while assembling them (a directory on the
   * repository's file system) instead of keeping each whole pack in memory.
   */
  constructor(
    private readonly key: MasterKey,
    private readonly repoVersion: number,
    private readonly compression: CompressionMode,
    private readonly packSize: number,
    private readonly tempDir: string | null = null,
  ) {}

  private openPack(): OpenPack {
    if (!this.tempDir) return new OpenPack(this.spare.pop() ?? Buffer.allocUnsafeSlow(this.packSize + (1 << 20)), null);
    const file = path.join(this.tempDir, `pack-tmp-${randomBytes(8).toString('hex')}`);
    const fd = fs.openSync(file, 'wx', 0o600);
    return new OpenPack(this.spare.pop() ?? Buffer.allocUnsafeSlow(STAGING_SIZE), { path: file, fd });
  }

  /** Encode and append one blob; returns its stored size and the pack it completed, if any. */
  add(type: BlobType, id: string, plaintext: Uint8Array): { stored: number; pack: FinishedPack | null } {
    const { src, uncompressedLength } = maybeCompress(this.repoVersion, this.compression, type, plaintext);
    const p = (this.open[type] ??= this.openPack());
    const total = src.length + Extension;
    p.reserve(total);
    const at = p.used;
    encryptInto(this.key, src, p.buf, at);
    p.hash.update(p.buf.subarray(at, at + total));
    p.blobs.push(type, id, p.size, total, uncompressedLength);
    p.used += total;
    p.entries += entrySize({ uncompressedLength });
    // restic's rule: a pack is done once it reaches the target size or its header nears the limit.
    const full = p.size + HEADER_SIZE + p.entries >= this.packSize || HEADER_SIZE + p.entries + 64 >= MAX_HEADER_SIZE;
    return { stored: total, pack: full ? this.finish(type) : null };
  }

  /** Finish the open pack of `type` (null when it has no blobs). */
  finish(type: BlobType): FinishedPack | null {
    const p = this.open[type];
    if (!p || !p.blobs.length) {
      this.abort(type);
      return null;
    }
    this.open[type] = null;
    this.writeHeader(p);
    const id = p.hash.digest('hex');
    if (!p.file) return { id, bytes: p.buf.subarray(0, p.used), blobs: p.blobs, size: p.used };
    p.writeOut();
    fs.closeSync(p.file.fd);
    this.spare.push(p.buf); // the staging buffer stays with this assembler
    return { id, bytes: Buffer.alloc(0), blobs: p.blobs, file: p.file.path, size: p.flushed };
  }

  /**
   * The encrypted header and its length, encoded and encrypted piece by piece: a pack of
   * ~100,000 small blobs has a 4 MiB header, which thus never exists whole in plaintext,
   * nor (in a pack written to a file) whole in ciphertext.
   */
  private writeHeader(p: OpenPack): void {
    const put = (b: Uint8Array) => {
      p.reserve(b.length);
      p.buf.set(b, p.used);
      p.hash.update(b);
      p.used += b.length;
    };
    const e = new StreamEncryptor(this.key);
    let plain = 0;
    put(e.iv);
    forEachHeaderPiece(p.blobs, (piece) => {
      plain += piece.length;
      put(e.update(piece));
    });
    put(e.final());
    const len = Buffer.allocUnsafe(4);
    len.writeUInt32LE(plain + Extension);
    put(len);
  }

  /** Give back a pack buffer whose upload finished. */
  recycle(buf: Buffer): void {
    const whole = Buffer.from(buf.buffer, 0, buf.buffer.byteLength);
    if (this.spare.length < 2 && whole.length >= this.packSize) this.spare.push(whole);
  }

  /** Drop unfinished packs (after an error or without a flush): their temp files are removed. */
  abort(...types: BlobType[]): void {
    for (const type of types.length ? types : (['data', 'tree'] as const)) {
      const p = this.open[type];
      this.open[type] = null;
      if (!p?.file) continue;
      try {
        fs.closeSync(p.file.fd);
      } catch {
        // already closed
      }
      fs.rmSync(p.file.path, { force: true });
    }
  }
}
