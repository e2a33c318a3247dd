/**
 * Worker thread: compresses, encrypts and assembles pack files (incl. the pack's SHA-256)
 * so the main thread only reads, chunks, hashes blobs and uploads finished packs.
 * Blob bytes arrive in a shared ring buffer (no copy, no allocation per blob); finished
 * packs are transferred back and their buffers returned for reuse after the upload.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { type MasterKey, loadPoly1305 } from '../crypto/index.js';
import type { CompressionMode } from '../compress/zstd.js';
import { type FinishedPack, PackAssembler } from './blob-codec.js';
import type { BlobType } from './pack.js';
import type { ToWorker, FromWorker } from './blob-pool.js';

// Bulk MACs need the WASM Poly1305 (the pure-JS fallback is far slower).
await loadPoly1305();

const { key, version, compression, packSize, ring } = workerData as {
  key: MasterKey;
  version: number;
  compression: CompressionMode;
  packSize: number;
  ring: SharedArrayBuffer;
};
const assembler = new PackAssembler(key, version, compression, packSize);
const ringBytes = new Uint8Array(ring);
const port = parentPort!;

function send(m: FromWorker, transfer: ArrayBuffer[] = []): void {
  port.postMessage(m, transfer);
}

function sendPack(p: FinishedPack): void {
  send({ op: 'pack', id: p.id, bytes: p.bytes, blobs: p.blobs }, [p.bytes.buffer as ArrayBuffer]);
}

port.on('message', (m: ToWorker) => {
  switch (m.op) {
    case 'blob': {
      const data = m.data ?? ringBytes.subarray(m.off, m.off + m.len);
      const { stored, pack } = assembler.add(m.type, m.id, data);
      // The ring region is free again once the blob is encrypted into the pack buffer.
      send({ op: 'done', seq: m.seq, type: m.type, stored });
      if (pack) sendPack(pack);
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
  }
});
