/**
 * --limit-upload/--limit-download (LimitedBackend) and --dry-run's backend (DryRunBackend):
 * transfers wait until the bytes before them drained at the set rate; a dry run reads
 * through and writes nothing.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { MemoryBackend } from '../../src/backends/memory.js';
import { LimitedBackend } from '../../src/backends/limiter.js';
import { DryRunBackend } from '../../src/backends/dry-run.js';

const h = (n: number) => ({ type: 'pack' as const, name: String(n).padStart(64, '0') });

afterEach(() => vi.useRealTimers());

describe('LimitedBackend', () => {
  it('spaces uploads so that the average rate stays at the limit', async () => {
    vi.useFakeTimers();
    const be = new LimitedBackend(new MemoryBackend(), { uploadKiB: 100 });
    const data = new Uint8Array(200 * 1024); // 2 s at 100 KiB/s
    await be.save(h(1), data); // the first transfer starts at once
    let second = false;
    const p = be.save(h(2), data).then(() => (second = true));
    await vi.advanceTimersByTimeAsync(1999);
    expect(second).toBe(false);
    await vi.advanceTimersByTimeAsync(2);
    await p;
    expect(second).toBe(true);
  });

  it('limits downloads independently of uploads', async () => {
    vi.useFakeTimers();
    const inner = new MemoryBackend();
    await inner.save(h(1), new Uint8Array(50 * 1024));
    const be = new LimitedBackend(inner, { downloadKiB: 50 });
    await be.save(h(2), new Uint8Array(10 * 1024 * 1024)); // no upload limit: no wait
    await be.load(h(1)); // 1 s of download budget used
    let done = false;
    const p = be.load(h(1)).then(() => (done = true));
    await vi.advanceTimersByTimeAsync(990);
    expect(done).toBe(false);
    await vi.advanceTimersByTimeAsync(20);
    await p;
    expect(done).toBe(true);
  });
});

describe('DryRunBackend', () => {
  it('reads the store and drops every write and removal', async () => {
    const inner = new MemoryBackend();
    await inner.save(h(1), new Uint8Array([1, 2, 3]));
    const be = new DryRunBackend(inner);
    await be.save(h(2), new Uint8Array([4]));
    await be.remove(h(1));
    expect([...(await be.load(h(1)))]).toEqual([1, 2, 3]);
    const names: string[] = [];
    for await (const f of inner.list('pack')) names.push(f.name);
    expect(names).toEqual([h(1).name]);
  });
});
