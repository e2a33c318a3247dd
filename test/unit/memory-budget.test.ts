import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { containerMemoryLimit, memoryBudget, parseMemorySize, resolveMemoryLimit } from '../../src/parallel/memory-budget.js';
import { tempDir } from '../helpers/tmp.js';

const MiB = 1024 * 1024;
let cleanup: (() => void) | undefined;
afterEach(() => cleanup?.());

/** A fake /proc/self/cgroup and cgroup filesystem. */
function fakeCgroups(procText: string, files: Record<string, string>): { proc: string; root: string } {
  const t = tempDir('restic-ts-cgfake-');
  cleanup = t.cleanup;
  const proc = path.join(t.dir, 'cgroup');
  fs.writeFileSync(proc, procText);
  const root = path.join(t.dir, 'fs');
  for (const [rel, text] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(root, rel)), { recursive: true });
    fs.writeFileSync(path.join(root, rel), text);
  }
  return { proc, root };
}

describe('container memory limit', () => {
  it('reads cgroup v1 memory.limit_in_bytes, the lowest along the path', () => {
    const { proc, root } = fakeCgroups('4:memory:/pod/ctr\n1:cpu:/x\n0::/\n', {
      'memory/memory.limit_in_bytes': '9223372036854771712\n',
      'memory/pod/memory.limit_in_bytes': String(256 * MiB),
      'memory/pod/ctr/memory.limit_in_bytes': String(512 * MiB),
    });
    expect(containerMemoryLimit(proc, root)).toBe(256 * MiB);
  });

  it('reads cgroup v2 memory.max ("max" = none)', () => {
    const { proc, root } = fakeCgroups('0::/kubepods/pod1\n', {
      'kubepods/memory.max': 'max\n',
      'kubepods/pod1/memory.max': String(128 * MiB) + '\n',
    });
    expect(containerMemoryLimit(proc, root)).toBe(128 * MiB);
  });

  it('is null without any limit or cgroup files', () => {
    const { proc, root } = fakeCgroups('0::/\n', { 'memory.max': 'max\n' });
    expect(containerMemoryLimit(proc, root)).toBeNull();
    expect(containerMemoryLimit(path.join(root, 'missing'), root)).toBeNull();
  });

  it('an explicit limit (or none) wins over the container', () => {
    expect(resolveMemoryLimit(64 * MiB)).toBe(64 * MiB);
    expect(resolveMemoryLimit(null)).toBeNull();
  });

  it('parses sizes', () => {
    expect(parseMemorySize('128M')).toBe(128 * MiB);
    expect(parseMemorySize('1.5g')).toBe(1536 * MiB);
    expect(parseMemorySize('134217728')).toBe(134217728);
    expect(parseMemorySize('64MiB')).toBe(64 * MiB);
    expect(parseMemorySize('lots')).toBeNull();
    expect(parseMemorySize('0')).toBeNull();
  });
});

describe('memory budget', () => {
  it('keeps every default without a limit or with a roomy one', () => {
    for (const limit of [null, 4096 * MiB]) {
      const b = memoryBudget(limit);
      expect(b.tight).toBe(false);
      expect(b.workers(8)).toBe(8);
      expect(b.backupWorkers(4)).toBe(4);
      expect(b.packsInFlight(3)).toBe(3);
      expect(b.holdFreedMemory).toBe(true);
    }
  });

  it('cuts workers, packs in flight and restore batches to fit 128 MiB', () => {
    const b = memoryBudget(128 * MiB);
    expect(b.tight).toBe(true);
    expect(b.workers(8)).toBe(0);
    expect(b.backupWorkers(4)).toBe(0);
    expect(b.packsInFlight(3)).toBe(1);
    expect(b.holdFreedMemory).toBe(false);
    expect(b.restoreBatchBlobs).toBeLessThan(memoryBudget(null).restoreBatchBlobs);
  });

  it('grows with the limit', () => {
    const small = memoryBudget(256 * MiB);
    const big = memoryBudget(768 * MiB);
    expect(big.workers(8)).toBeGreaterThanOrEqual(small.workers(8));
    expect(big.backupWorkers(4)).toBeGreaterThan(0);
    expect(big.packsInFlight(9)).toBeGreaterThan(small.packsInFlight(9));
  });
});
