/**
 * Packs for a remote store spooled through temp files, as restic does: workers write each pack
 * to a file while assembling it, and the upload streams that file (backends with saveFile) or
 * reads it back whole (others, one pack per upload in flight). No worker then holds a pack
 * buffer, so a backup's memory does not grow with pack size times workers.
 */
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Backend, Handle } from '../backends/backend.js';
import { minorGc } from './worker-gc.js';

export class PackSpool {
  private dir: string | null = null;

  /** `collect`: a young-generation collection after each upload frees its read buffers at once (tight memory budgets). */
  private readonly collect: (() => void) | null;

  constructor(collect = false) {
    this.collect = collect ? minorGc() : null;
  }

  /** The spool directory, made on first use (in the system's temp directory). */
  tempDir(): string {
    return (this.dir ??= fs.mkdtempSync(path.join(os.tmpdir(), 'restic-ts-packs-')));
  }

  /** Upload a finished pack file as `h`, then remove it (also when the upload fails). */
  async upload(backend: Backend, h: Handle, file: string): Promise<void> {
    try {
      if (backend.saveFile) await backend.saveFile(h, file);
      else await backend.save(h, await fsp.readFile(file));
    } finally {
      await fsp.rm(file, { force: true });
      this.collect?.();
    }
  }

  /** Remove a pack file that will not be committed (a store's temp file too). */
  async discard(file: string): Promise<void> {
    await fsp.rm(file, { force: true }).catch(() => undefined);
  }

  /** Remove the spool directory and anything left in it. */
  remove(): void {
    if (this.dir) fs.rmSync(this.dir, { recursive: true, force: true });
    this.dir = null;
  }
}
