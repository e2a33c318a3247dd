/** targetsHoldAtLeast: the bounded look backup takes before deciding to start its workers early. */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { targetsHoldAtLeast } from '../../dist/archiver/data-estimate.js';
import { tempDir } from '../helpers/tmp.js';

const tmp = tempDir('restic-ts-estimate-');
afterAll(() => tmp.cleanup());

describe('targetsHoldAtLeast', () => {
  it('adds regular file sizes under directories and file targets; stops at the entry bound; skips what is missing', () => {
    const root = path.join(tmp.dir, 'tree');
    fs.mkdirSync(path.join(root, 'a', 'b'), { recursive: true });
    fs.writeFileSync(path.join(root, 'a', 'one'), Buffer.alloc(3000));
    fs.writeFileSync(path.join(root, 'a', 'b', 'two'), Buffer.alloc(5000));
    fs.symlinkSync('/dev/zero', path.join(root, 'a', 'link')); // not followed
    const single = path.join(tmp.dir, 'single');
    fs.writeFileSync(single, Buffer.alloc(1000));

    expect(targetsHoldAtLeast([root], 8000)).toBe(true);
    expect(targetsHoldAtLeast([root], 8001)).toBe(false);
    expect(targetsHoldAtLeast([root, single], 9000)).toBe(true);
    expect(targetsHoldAtLeast([path.join(tmp.dir, 'missing'), single], 1000)).toBe(true);
    // four entries (root, a and two of a's) stop the look before b/two
    expect(targetsHoldAtLeast([root], 8000, 4)).toBe(false);
  });
});
