/** Worker thread: verifies and decodes spans of packs so restore can write on the main thread meanwhile. */
import { parentPort, workerData } from 'node:worker_threads';
import { type MasterKey, loadPoly1305 } from '../crypto/index.js';
import { type SpanBlob, openSpan } from './blob-open.js';
import type { BlobType } from './pack.js';

// Bulk MACs need the WASM Poly1305 (the pure-JS fallback is far slower).
await loadPoly1305();

const { key } = workerData as { key: MasterKey };

parentPort!.on('message', (m: { seq: number; packId: string; type: BlobType; span: Uint8Array; blobs: SpanBlob[] }) => {
  const results = openSpan(key, m.packId, m.type, m.span, m.blobs);
  const transfer: ArrayBuffer[] = [];
  const out = results.map((r) => {
    if (!(r instanceof Uint8Array)) return r;
    // Only a buffer of our own may be transferred (small Buffers share Node's pool).
    const own = r.byteOffset === 0 && r.buffer.byteLength === r.length && !transfer.includes(r.buffer as ArrayBuffer) ? r : new Uint8Array(r);
    transfer.push(own.buffer as ArrayBuffer);
    return own;
  });
  parentPort!.postMessage({ seq: m.seq, results: out }, transfer);
});
