/** Byte sizes in flags: restic's parseSizeStr and the lenient rest-server form. */
import { describe, expect, it } from 'vitest';
import { UsageError } from '../../src/errors.js';
import { parseSize, sizeBytes } from '../../src/go/size.js';

describe('sizes', () => {
  it('parses restic sizes with binary multiples', () => {
    expect(parseSize('123')).toBe(123);
    expect(parseSize(' 500k ')).toBe(500 * 1024);
    expect(parseSize('10M')).toBe(10 * 2 ** 20);
    expect(parseSize('1gB')).toBe(2 ** 30);
    expect(parseSize('2T')).toBe(2 * 2 ** 40);
    expect(parseSize('7b')).toBe(7);
    for (const bad of ['', '1.5G', '2 G', '2GiB', '-1', 'G']) expect(() => parseSize(bad)).toThrow(UsageError);
  });

  it('the lenient form also takes a space and KiB-style units', () => {
    expect(sizeBytes('2 GiB', true)).toBe(2 * 2 ** 30);
    expect(sizeBytes('500M', true)).toBe(500 * 2 ** 20);
    expect(sizeBytes('3ki', true)).toBe(3 * 1024);
    expect(sizeBytes('7 b', true)).toBe(7);
    expect(sizeBytes('2 GiB')).toBeUndefined();
    expect(sizeBytes('1.5G', true)).toBeUndefined();
  });
});
