/** Worker thread for OpenPool: decodes spans, checks whole packs and writes restored blobs. */
import { parentPort, workerData } from 'node:worker_threads';
import type { MasterKey } from '../crypto/index.js';
import { type SpanBlob, openSpan } from './blob-open.js';
import type { BlobType, PackedBlob } from './pack.js';
import { checkPackBytes } from '../checker/read-pack.js';
import { type SpanWrite, writeSpan } from '../restorer/span-write.js';

const { key } = workerData as { key: MasterKey };


type Job =
  | { seq: number; kind: 'open'; args: { packId: string; type: BlobType; span: Uint8Array; blobs: SpanBlob[] } }
  | { seq: number; kind: 'check'; args: { packId: string; pack: Uint8Array; indexed: PackedBlob[]; size: number } }
  | { seq: number; kind: 'write'; args: SpanWrite };

function openAndTransfer(a: { packId: string; type: BlobType; span: Uint8Array; blobs: SpanBlob[] }, seq: number): void {
  const results = openSpan(key, a.packId, a.type, a.span, a.blobs);
  const transfer: ArrayBuffer[] = [];
  const out = results.map((r) => {
    if (!(r instanceof Uint8Array)) return r;
    // Only a buffer of our own may be transferred (small Buffers share Node's pool).
    const own = r.byteOffset === 0 && r.buffer.byteLength === r.length && !transfer.includes(r.buffer as ArrayBuffer) ? r : new Uint8Array(r);
    transfer.push(own.buffer as ArrayBuffer);
    return own;
  });
  parentPort!.postMessage({ seq, result: out }, transfer);
}

parentPort!.on('message', async (m: Job) => {
  switch (m.kind) {
    case 'open':
      return openAndTransfer(m.args, m.seq);
    case 'check': {
      const { packId, pack, indexed, size } = m.args;
      const result = await checkPackBytes(key, packId, pack, indexed, size);
      return parentPort!.postMessage({ seq: m.seq, result });
    }
    case 'write':
      return parentPort!.postMessage({ seq: m.seq, result: writeSpan(key, m.args) });
  }
});
