/**
 * Worker thread: compresses, encrypts and assembles pack files (incl. the pack's SHA-256)
 * so the main thread only reads, chunks, hashes blobs and uploads finished packs.
 * Blob bytes arrive in a shared ring buffer (no copy, no allocation per blob) in batches;
 * finished packs are transferred back and their buffers returned for reuse after the upload.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { loadPoly1305 } from '../crypto/index.js';
import { zstdCompressTransient } from '../compress/zstd.js';
import { type FinishedPack, PackAssembler } from './pack-assembler.js';
import type { BlobType } from '../format/pack.js';
import { blobListTransfer } from '../format/blob-list.js';
import { hashId } from '../format/id.js';
import type { ToWorker, FromWorker } from './blob-pool.js';
import { enableWorkerGc, noteGarbage } from './worker-gc.js';

// Bulk MACs need the WASM Poly1305 (the pure-JS fallback is far slower).
await loadPoly1305();
const start = workerData as { gcTuning: boolean; warmZstd: boolean };
// Each AES update() leaves a garbage buffer (see worker-gc.ts).
enableWorkerGc(start.gcTuning);
// A worker started while the key is derived instantiates zstd then, not with the first blob.
if (start.warmZstd) zstdCompressTransient(new Uint8Array(64));

/** Set by the pool's first message: the key is not known when a worker is started early. */
let assembler!: PackAssembler;
let ringBytes!: Uint8Array;
const port = parentPort!;

function send(m: FromWorker, transfer: ArrayBuffer[] = []): void {
  port.postMessage(m, transfer);
}

function sendPack(p: FinishedPack): void {
  const blobs = p.blobs.data();
  if (p.file) send({ op: 'pack', id: p.id, file: p.file, size: p.size, blobs }, blobListTransfer(blobs));
  else send({ op: 'pack', id: p.id, bytes: p.bytes, size: p.size, blobs }, [p.bytes.buffer as ArrayBuffer, ...blobListTransfer(blobs)]);
}

port.on('message', (m: ToWorker) => {
  try {
    handle(m);
  } catch (err) {
    assembler?.abort(); // no temp files left behind; the error ends the worker
    throw err;
  }
});

function handle(m: ToWorker): void {
  switch (m.op) {
    case 'init': {
      const { key, version, compression, packSize, ring, tempDir } = m.setup;
      assembler = new PackAssembler(key, version, compression, packSize, tempDir);
      ringBytes = new Uint8Array(ring);
      break;
    }
    case 'blobs': {
      const stored: number[] = [];
      const hashes: string[] = [];
      const packs: FinishedPack[] = [];
      for (const j of m.jobs) {
        const data = j.data ?? ringBytes.subarray(j.off, j.off + j.len);
        if (!j.id) {
          // Hash only: the main thread de-duplicates by ID and may send the blob back to store.
          hashes.push(hashId(data));
          stored.push(0);
          continue;
        }
        const r = assembler.add(j.type, j.id, data);
        noteGarbage(j.len);
        hashes.push('');
        stored.push(r.stored);
        if (r.pack) packs.push(r.pack);
      }
      // The batch's ring regions are free again once its blobs are encrypted into pack buffers.
      send({ op: 'done', batch: m.batch, stored, hashes });
      for (const p of packs) sendPack(p);
      break;
    }
    case 'flush':
      for (const t of ['data', 'tree'] as BlobType[]) {
        const pack = assembler.finish(t);
        if (pack) sendPack(pack);
      }
      send({ op: 'flushed', seq: m.seq });
      break;
    case 'recycle':
      assembler.recycle(Buffer.from(m.buf));
      break;
    case 'close':
      assembler?.abort();
      port.close();
      break;
  }
}
