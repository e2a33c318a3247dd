/**
 * Restore's hot path, run on OpenPool's worker threads: decode the blobs of one span of a
 * pack and write each plaintext straight into the files that need it, so plaintext never
 * crosses threads and the file syscalls are spread over the cores.
 */
import fs from 'node:fs';
import type { MasterKey } from '../crypto/index.js';
import { type SpanBlob, streamStoredBlob } from '../format/blob-open.js';
import { noteGarbage } from './worker-gc.js';
// paths arrive as plain Uint8Arrays after crossing threads; fs wants a Buffer
import { asBuffer } from '../go/utf8.js';

/** Metadata applied through the descriptor once a file's content is complete. */
export interface FileMeta {
  /** uid/gid, or null to leave ownership alone. */
  owner: [number, number] | null;
  /** Permission bits, or null to leave them. */
  mode: number | null;
  /** utimes seconds: a numeric string before 1970 (Node maps negative numbers to now). */
  atime: number | string;
  mtime: number | string;
}

/**
 * A file written by the span. Either `fd` (a descriptor the main thread holds open, for files
 * whose blobs come from several spans) or `path` (a file written only by this span, which the
 * worker opens, writes, optionally finishes with `meta`, and closes).
 */
export interface WriteFile {
  fd: number;
  path: Uint8Array | null;
  /** Create the file (O_EXCL); otherwise it already exists. Only with `path`. */
  create: boolean;
  meta: FileMeta | null;
}

export interface SpanWrite {
  packId: string;
  span: Uint8Array;
  blobs: SpanBlob[];
  /** Per blob: pairs of (index into `files`, offset in that file). */
  targets: number[][];
  files: WriteFile[];
}

export interface SpanWriteResult {
  /** Per blob: why it could not be opened, or null. Its targets were not written. */
  blobErrors: (string | null)[];
  /** Per file: the first write/open/metadata error (the file is then not finished). */
  fileErrors: (string | null)[];
  /** Per file with a path: whether it exists now (it may when a blob failed). */
  created: boolean[];
  /** Per file: content complete, metadata applied and closed by the worker. */
  finished: boolean[];
}

const { O_WRONLY, O_CREAT, O_EXCL, O_NOFOLLOW } = fs.constants;

export function writeSpan(key: MasterKey, job: SpanWrite): SpanWriteResult {
  const n = job.files.length;
  const fds = job.files.map((f) => f.fd);
  const res: SpanWriteResult = {
    blobErrors: [],
    fileErrors: new Array<string | null>(n).fill(null),
    created: job.files.map((f) => !f.create),
    finished: new Array<boolean>(n).fill(false),
  };
  /** Files missing a blob: the main thread completes them. */
  const incomplete = new Array<boolean>(n).fill(false);
  let targets: number[] = [];
  /** Write a piece of the current blob to every file that needs it (opening files on first use). */
  const sink = (piece: Uint8Array, offset: number): void => {
    for (let t = 0; t < targets.length; t += 2) {
      const f = targets[t]!;
      if (res.fileErrors[f] !== null) continue;
      try {
        if (fds[f]! < 0) {
          const file = job.files[f]!;
          fds[f] = openTarget(asBuffer(file.path!), res.created[f]!);
          res.created[f] = true;
        }
        writeAll(fds[f]!, piece, targets[t + 1]! + offset);
      } catch (err) {
        res.fileErrors[f] = (err as Error).message;
      }
    }
  };
  // A file the worker opens is finished and closed right after its last blob here, so a
  // span of many small files holds one or two descriptors at a time, not hundreds.
  const lastUse = lastUses(job.targets, n);
  for (let i = 0; i < job.blobs.length; i++) {
    const b = job.blobs[i]!;
    targets = job.targets[i]!;
    try {
      noteGarbage(
        streamStoredBlob(key, job.span.subarray(b.offset, b.offset + b.length), 'data', b.id, job.packId, b.uncompressedLength, sink),
      );
      res.blobErrors.push(null);
    } catch (err) {
      // Nothing was written unless the MAC held and the content still mismatched its ID;
      // either way the main thread rewrites these places from another copy or fails the files.
      res.blobErrors.push((err as Error).message);
      for (let t = 0; t < targets.length; t += 2) incomplete[targets[t]!] = true;
    }
    for (let t = 0; t < targets.length; t += 2) if (lastUse[targets[t]!] === i) finishFile(job, fds, res, incomplete, targets[t]!);
  }
  return res;
}

/** Per file: the index of the last blob that writes to it. */
function lastUses(targets: number[][], n: number): number[] {
  const lastUse = new Array<number>(n).fill(-1);
  targets.forEach((t, i) => {
    for (let k = 0; k < t.length; k += 2) lastUse[t[k]!] = i;
  });
  return lastUse;
}

/** Apply the metadata of a complete file the worker opened, and close it. */
function finishFile(job: SpanWrite, fds: number[], res: SpanWriteResult, incomplete: boolean[], f: number): void {
  const file = job.files[f]!;
  // The main thread's descriptors stay open; a file never opened here has nothing to finish.
  if (!file.path || fds[f]! < 0) return;
  try {
    if (file.meta && !incomplete[f] && res.fileErrors[f] === null) {
      applyMeta(fds[f]!, file.meta);
      res.finished[f] = true;
    }
  } catch (err) {
    res.fileErrors[f] = (err as Error).message;
  } finally {
    fs.closeSync(fds[f]!);
    fds[f] = -1;
  }
}

/** Open a restored file for writing, creating it exclusively unless it `exists`; never through a symlink. */
export function openTarget(p: Buffer, exists: boolean): number {
  return exists ? fs.openSync(p, O_WRONLY | O_NOFOLLOW) : fs.openSync(p, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, 0o600);
}

function writeAll(fd: number, data: Uint8Array, position: number): void {
  let done = 0;
  while (done < data.length) {
    const n = fs.writeSync(fd, data, done, data.length - done, position + done);
    if (n <= 0) throw new Error(`short write at offset ${position + done}`);
    done += n;
  }
}

/** A regular file's metadata by path (its descriptor was closed): owner, mode, then times. */
export function applyMetaAt(p: Buffer, m: FileMeta): void {
  if (m.owner) fs.lchownSync(p, m.owner[0], m.owner[1]);
  if (m.mode !== null) fs.chmodSync(p, m.mode);
  fs.utimesSync(p, m.atime, m.mtime);
}

/** A regular file's metadata through its descriptor: owner, mode, then times. */
export function applyMeta(fd: number, m: FileMeta): void {
  if (m.owner) fs.fchownSync(fd, m.owner[0], m.owner[1]);
  if (m.mode !== null) fs.fchmodSync(fd, m.mode);
  fs.futimesSync(fd, m.atime, m.mtime);
}
