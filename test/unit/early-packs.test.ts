/** EarlyPacks: whole packs downloaded while check's lock settles, taken once by read-data. */
import crypto from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { EarlyPacks } from '../../dist/checker/early-packs.js';
import { MemoryBackend } from '../../dist/backends/memory.js';

async function backendWith(sizes: number[]): Promise<{ be: MemoryBackend; packs: Map<string, Buffer> }> {
  const be = new MemoryBackend();
  const packs = new Map<string, Buffer>();
  for (const n of sizes) {
    const data = crypto.randomBytes(n);
    const name = crypto.createHash('sha256').update(data).digest('hex');
    await be.save({ type: 'pack', name }, data);
    packs.set(name, data);
  }
  return { be, packs };
}

const settle = () => new Promise((r) => setTimeout(r, 20));

describe('EarlyPacks', () => {
  it('downloads listed packs up to the byte bound; each is taken once, whole and at its listed size', async () => {
    const { be, packs } = await backendWith([1000, 2000, 3000, 4000]);
    const early = EarlyPacks.start(be, 6000, 2);
    await settle();
    const started = early.ids;
    const total = started.reduce((a, id) => a + packs.get(id)!.length, 0);
    expect(total).toBeLessThanOrEqual(6000);
    expect(started.length).toBeGreaterThan(0);
    const id = started[0]!;
    expect(Buffer.from((await early.take(id, packs.get(id)!.length))!).equals(packs.get(id)!)).toBe(true);
    expect(await early.take(id, packs.get(id)!.length)).toBeNull(); // once
    const other = started[1];
    if (other) expect(await early.take(other, packs.get(other)!.length + 1)).toBeNull(); // not the size the index expects
    const notStarted = [...packs.keys()].find((p) => !started.includes(p))!;
    expect(await early.take(notStarted, packs.get(notStarted)!.length)).toBeNull();
    early.clear();
  });

  it('clear() stops the downloads: what was not taken is dropped and nothing waits forever', async () => {
    const { be, packs } = await backendWith([1000, 1000, 1000]);
    const early = EarlyPacks.start(be, 1 << 20, 1);
    await settle();
    const ids = early.ids;
    early.clear();
    for (const id of ids) expect(await early.take(id, packs.get(id)!.length)).toBeNull();
  });

  it('a failed listing or load leaves the packs to the caller', async () => {
    const { be, packs } = await backendWith([1000, 1000]);
    const failing = Object.assign(Object.create(be) as MemoryBackend, {
      load: () => Promise.reject(new Error('connection reset')),
    });
    const early = EarlyPacks.start(failing, 1 << 20, 2);
    await settle();
    for (const id of early.ids) expect(await early.take(id, packs.get(id)!.length)).toBeNull();
    const unlisted = Object.assign(Object.create(be) as MemoryBackend, {
      // eslint-disable-next-line require-yield
      list: async function* () {
        throw new Error('listing refused');
      },
    });
    const none = EarlyPacks.start(unlisted, 1 << 20, 2);
    await settle();
    expect(none.ids).toEqual([]);
  });

  it('endListing() stops the listing (a round trip per data/XX directory on SFTP); listed packs still arrive', async () => {
    const { be, packs } = await backendWith([1000, 1000, 1000, 1000, 1000]);
    const slow = Object.assign(Object.create(be) as MemoryBackend, {
      list: async function* (type: 'pack', opts?: { signal?: AbortSignal }) {
        for await (const f of be.list(type)) {
          await new Promise((r) => setTimeout(r, 30));
          opts?.signal?.throwIfAborted();
          yield f;
        }
      },
    });
    const early = EarlyPacks.start(slow, 1 << 20, 2);
    await new Promise((r) => setTimeout(r, 75));
    early.endListing();
    await new Promise((r) => setTimeout(r, 100));
    const ids = early.ids;
    expect(ids.length).toBeGreaterThan(0);
    expect(ids.length).toBeLessThan(packs.size);
    for (const id of ids) expect(Buffer.from((await early.take(id, 1000))!).equals(packs.get(id)!)).toBe(true);
    early.clear();
  });
});
