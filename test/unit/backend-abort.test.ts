/**
 * Every Backend method takes `{ signal }` last (issue 15 item 2): an aborted signal rejects
 * with AbortedError before any I/O, and RetryBackend stops retrying once it fires.
 */
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { AbortedError, type Backend, LocalBackend, MemoryBackend, type ResticError, RetryBackend } from '../../src/index.js';
import { BackendRequestError } from '../../src/backends/retry.js';
import { tempDir } from '../helpers/tmp.js';

const tmp = tempDir('restic-ts-backend-abort-');
afterAll(() => tmp.cleanup());
const ID = 'a'.repeat(64);

async function rejection(p: Promise<unknown> | AsyncIterable<unknown>): Promise<unknown> {
  try {
    if (Symbol.asyncIterator in p) for await (const _ of p as AsyncIterable<unknown>) void _;
    else await p;
  } catch (err) {
    return err;
  }
  return null;
}

describe.each([
  ['memory', () => new MemoryBackend()],
  ['local', () => new LocalBackend(path.join(tmp.dir, `repo-${Math.random().toString(16).slice(2)}`))],
  ['retry(memory)', () => new RetryBackend(new MemoryBackend())],
])('%s backend', (_name, make: () => Backend) => {
  it('rejects every call with AbortedError (code ABORTED) once the signal fired, and writes nothing', async () => {
    const b = make();
    await b.create();
    await b.save({ type: 'key', name: ID }, new Uint8Array([1, 2, 3]));
    const signal = AbortSignal.abort();
    const h = { type: 'snapshot' as const, name: ID };
    const calls: Array<Promise<unknown> | AsyncIterable<unknown>> = [
      b.create({ signal }),
      b.save(h, new Uint8Array([1]), { signal }),
      b.load({ type: 'key', name: ID }, 0, 0, { signal }),
      b.stat({ type: 'key', name: ID }, { signal }),
      b.list('key', { signal }),
      b.remove({ type: 'key', name: ID }, { signal }),
    ];
    for (const c of calls) {
      const err = await rejection(c);
      expect(err).toBeInstanceOf(AbortedError);
      expect((err as ResticError).code).toBe('ABORTED');
    }
    // Nothing happened: the key is still there, no snapshot was written.
    expect((await b.stat({ type: 'key', name: ID })).size).toBe(3);
    expect(await rejection(b.stat(h))).not.toBeNull();
    await b.close();
  });
});

describe('RetryBackend', () => {
  it('stops retrying a transient failure when the signal fires during the backoff', async () => {
    let attempts = 0;
    const inner = new MemoryBackend();
    inner.load = async () => {
      attempts++;
      throw new BackendRequestError('503 from the server', true, 503);
    };
    const ac = new AbortController();
    const b = new RetryBackend(inner, {
      retries: 10,
      sleep: async () => {
        ac.abort();
      },
    });
    const err = await rejection(b.load({ type: 'key', name: ID }, 0, 0, { signal: ac.signal }));
    expect(err).toBeInstanceOf(AbortedError);
    expect(attempts).toBe(1);
  });
});
