/** Worker thread for OpenPool: checks whole packs and writes restored blobs. */
import { parentPort, workerData } from 'node:worker_threads';
import { type MasterKey, loadPoly1305 } from '../crypto/index.js';
import { type PackEntries, checkPackBytes } from './read-pack.js';
import { type SpanWrite, writeSpan } from './span-write.js';
import { enableWorkerGc } from './worker-gc.js';

// Bulk MACs need the WASM Poly1305 (the pure-JS fallback is far slower).
await loadPoly1305();

const { key } = workerData as { key: MasterKey };
enableWorkerGc((workerData as { gcTuning: boolean }).gcTuning);

type Job =
  | { seq: number; kind: 'check'; back: boolean; args: { packId: string; pack: Uint8Array; indexed: PackEntries; size: number } }
  | { seq: number; kind: 'write'; back: boolean; args: SpanWrite };

/** The answer, with the job's buffer when the pool recycles it. */
function answer(m: Job, result: unknown, buf: Uint8Array): void {
  if (!m.back) return parentPort!.postMessage({ seq: m.seq, result });
  const back = buf.buffer as ArrayBuffer;
  parentPort!.postMessage({ seq: m.seq, result, back }, [back]);
}

parentPort!.on('message', async (m: Job) => {
  if (m.kind === 'check') {
    const { packId, pack, indexed, size } = m.args;
    answer(m, await checkPackBytes(key, packId, pack, indexed, size), pack);
  } else {
    answer(m, writeSpan(key, m.args), m.args.span);
  }
});
