/**
 * Fail fast and once, without servers: RetryBackend's retry budget (attempts and time) and
 * its breaker (once one operation has spent its budget, every other operation fails at once
 * with that same error; a lock file still gets one attempt), and a backup whose backend
 * fails — remote after retries, or local (ENOSPC) — ending with one error instead of a
 * warning per remaining file.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BackendError, RetryBackend } from '../../src/backends/retry.js';
import { MemoryBackend } from '../../src/backends/memory.js';
import type { Handle } from '../../src/backends/backend.js';
import { isFatal } from '../../src/errors.js';
import { Repository, backup } from '../../src/index.js';

const KDF = { N: 1024, r: 8, p: 1 };
const refused = () => Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' });

/** A memory backend whose operations can be made to fail, counting the calls that reach it. */
class Flaky extends MemoryBackend {
  calls = { save: 0, load: 0, remove: 0 };
  failSaves: (h: Handle) => unknown = () => undefined;
  down = false;
  override async save(h: Handle, data: Uint8Array): Promise<void> {
    this.calls.save++;
    const err = this.failSaves(h);
    if (err) throw err;
    return super.save(h, data);
  }
  override async load(h: Handle, offset?: number, length?: number): Promise<Uint8Array> {
    this.calls.load++;
    if (this.down) throw refused();
    return super.load(h, offset, length);
  }
  override async remove(h: Handle): Promise<void> {
    this.calls.remove++;
    if (this.down) throw refused();
    return super.remove(h);
  }
}

const fast = { baseDelayMs: 1, maxDelayMs: 2 };
const id = () => randomBytes(32).toString('hex');

describe('RetryBackend: budget and breaker', () => {
  it('after one operation spends its retries, others fail at once with the same error', async () => {
    const inner = new Flaky();
    inner.failSaves = () => refused();
    const be = new RetryBackend(inner, { ...fast, retries: 3 });
    const err = await be.save({ type: 'pack', name: id() }, new Uint8Array(1)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BackendError);
    expect((err as Error).message).toMatch(/^save pack [0-9a-f]{64} failed after 4 attempts: connect ECONNREFUSED/);
    expect(isFatal(err)).toBe(true);
    expect(be.failure).toBe(err);
    inner.calls.save = 0;
    await expect(be.save({ type: 'index', name: id() }, new Uint8Array(1))).rejects.toBe(err);
    await expect(be.load({ type: 'config', name: 'config' })).rejects.toBe(err);
    const listing = (async () => {
      for await (const _ of be.list('snapshot')) void _;
    })();
    await expect(listing).rejects.toBe(err);
    expect(inner.calls.save + inner.calls.load).toBe(0); // nothing more reached the server
  });

  it('operations already retrying stop with the first failure, with its error', async () => {
    const inner = new Flaky();
    inner.failSaves = () => refused();
    const be = new RetryBackend(inner, { baseDelayMs: 10, maxDelayMs: 10, retries: 1000, budgetMs: 150 });
    const a = be.save({ type: 'pack', name: id() }, new Uint8Array(1)).catch((e: unknown) => e);
    await new Promise((r) => setTimeout(r, 100));
    const b = be.save({ type: 'index', name: id() }, new Uint8Array(1)).catch((e: unknown) => e);
    const [ea, eb] = await Promise.all([a, b]);
    expect((ea as Error).message).toMatch(/^save pack/);
    expect(eb).toBe(ea); // b stopped when a gave up, and reports a's cause
  });

  it('the retry budget bounds the time an operation retries', async () => {
    const inner = new Flaky();
    inner.failSaves = () => refused();
    const be = new RetryBackend(inner, { baseDelayMs: 10, maxDelayMs: 10, retries: 1000, budgetMs: 150 });
    const started = Date.now();
    await expect(be.save({ type: 'pack', name: id() }, new Uint8Array(1))).rejects.toThrow(/failed after \d+ attempts/);
    expect(inner.calls.save).toBeLessThan(100);
    expect(Date.now() - started).toBeLessThan(5000);
  });

  it('once down, a lock file still gets one attempt (released if the server is back), other removals none', async () => {
    const inner = new Flaky();
    inner.failSaves = () => refused();
    const be = new RetryBackend(inner, { ...fast, retries: 1 });
    await expect(be.save({ type: 'pack', name: id() }, new Uint8Array(1))).rejects.toThrow();
    await be.remove({ type: 'lock', name: id() });
    expect(inner.calls.remove).toBe(1);
    inner.down = true;
    await expect(be.remove({ type: 'lock', name: id() })).rejects.toThrow(/ECONNREFUSED/);
    expect(inner.calls.remove).toBe(2);
    await expect(be.remove({ type: 'pack', name: id() })).rejects.toBe(be.failure);
    expect(inner.calls.remove).toBe(2);
  });
});

describe('backup ends with one error when its backend fails', () => {
  let src: string;
  beforeAll(() => {
    src = fs.mkdtempSync(path.join(os.tmpdir(), 'restic-ts-failfast-unit-'));
    for (let i = 0; i < 60; i++) fs.writeFileSync(path.join(src, `f${i}`), randomBytes(200_000));
  });
  afterAll(() => fs.rmSync(src, { recursive: true, force: true }));

  for (const kind of ['remote (after retries)', 'local (ENOSPC)'] as const) {
    it(kind, async () => {
      const inner = new Flaky();
      const repo = await Repository.init(kind.startsWith('remote') ? new RetryBackend(inner, { ...fast, retries: 2 }) : inner, 'pw', {
        version: 2,
        kdf: KDF,
        packSize: 512 * 1024,
      });
      let packs = 0;
      inner.failSaves = (h) => {
        if (h.type !== 'pack' || ++packs <= 2) return undefined;
        return kind.startsWith('remote')
          ? refused()
          : Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
      };
      const warnings: string[] = [];
      const err = await backup(repo, [src], { onWarning: (w) => warnings.push(w.message) }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(Error);
      expect((err as Error).message).toMatch(kind.startsWith('remote') ? /failed after 3 attempts.*ECONNREFUSED/ : /ENOSPC/);
      expect(warnings).toEqual([]); // not one per remaining file
      await repo.close();
    });
  }
});
