/** Worker thread: compresses and encrypts blobs so the main thread can keep reading and chunking. */
import { parentPort, workerData } from 'node:worker_threads';
import type { MasterKey } from '../crypto/index.js';
import type { CompressionMode } from '../compress/zstd.js';
import { encodeBlob } from './blob-codec.js';
import type { BlobType } from './pack.js';

const { key, version, compression } = workerData as { key: MasterKey; version: number; compression: CompressionMode };

parentPort!.on('message', (m: { seq: number; type: BlobType; data: Uint8Array }) => {
  const r = encodeBlob(key, version, compression, m.type, m.data);
  // Small Buffers share Node's pool; only a buffer of our own may be transferred.
  const e = r.encrypted;
  const out = e.byteOffset === 0 && e.buffer.byteLength === e.length ? e : new Uint8Array(e);
  parentPort!.postMessage({ seq: m.seq, encrypted: out, uncompressedLength: r.uncompressedLength }, [out.buffer as ArrayBuffer]);
});
