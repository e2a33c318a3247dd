import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { looksCompressible } from '../../src/compress/zstd.js';

describe('compression decision (repository size on par with restic)', () => {
  it('compresses a chunk whose middle is random but whose start is text', () => {
    const text = Buffer.from('the quick brown fox jumps over the lazy dog\n'.repeat(20_000)).subarray(0, 512 * 1024);
    const mixed = Buffer.concat([text, randomBytes(1024 * 1024)]);
    expect(looksCompressible(mixed)).toBe(true);
    expect(looksCompressible(randomBytes(1024 * 1024))).toBe(false);
  });
});
