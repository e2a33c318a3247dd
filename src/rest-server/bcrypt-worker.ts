/** Worker thread of the REST server's bcrypt pool (bcrypt-pool.ts): one hash per message. */
import { parentPort } from 'node:worker_threads';
import bcrypt from 'bcryptjs';

parentPort!.on('message', (m: { seq: number; password: string; salt: string }) => {
  try {
    parentPort!.postMessage({ seq: m.seq, hash: bcrypt.hashSync(m.password, m.salt) });
  } catch (err) {
    parentPort!.postMessage({ seq: m.seq, error: (err as Error)?.message ?? String(err) });
  }
});
