/**
 * Cross-tool de-duplication: restic-ts cuts the same chunks as restic, so backing up a
 * tree restic already stored adds (almost) nothing, and the file nodes we record carry
 * the same metadata restic records.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cli } from '../helpers/cli.js';
import { resticOk } from '../helpers/restic.js';
import { pseudoRandom } from '../helpers/gentree.js';
import { tempDir } from '../helpers/tmp.js';

const PASSWORD = 'dedup';
const MiB = 1024 * 1024;
let tmp: ReturnType<typeof tempDir>;
let src: string;
let dataSize = 0;

function duBytes(dir: string): number {
  let total = 0;
  for (const name of fs.readdirSync(dir, { recursive: true }) as string[]) {
    const st = fs.statSync(path.join(dir, name));
    if (st.isFile()) total += st.size;
  }
  return total;
}

beforeAll(() => {
  tmp = tempDir();
  src = path.join(tmp.dir, 'data');
  fs.mkdirSync(path.join(src, 'small'), { recursive: true });
  for (let i = 0; i < 8; i++) {
    const b = pseudoRandom(`large:${i}`, 11 * MiB + i * 12345);
    fs.writeFileSync(path.join(src, `large${i}.bin`), b);
    dataSize += b.length;
  }
  for (let i = 0; i < 300; i++) {
    const b = pseudoRandom(`small:${i}`, 1000 + i * 97);
    fs.writeFileSync(path.join(src, 'small', `f${i}.dat`), b);
    dataSize += b.length;
  }
});
afterAll(() => tmp.cleanup());

interface LsNode {
  name: string;
  type: string;
  path: string;
  [k: string]: unknown;
}

function lsJson(repo: string, snap: string): Map<string, LsNode> {
  const out = new Map<string, LsNode>();
  for (const line of resticOk(repo, PASSWORD, ['ls', '--json', snap]).split('\n')) {
    if (!line.trim()) continue;
    const o = JSON.parse(line);
    if (o.struct_type === 'node') out.set(o.path, o);
  }
  return out;
}

describe('restic then restic-ts into one repository', () => {
  it('grows the repository by under 1 % and records the same file metadata', () => {
    expect(dataSize).toBeGreaterThan(90 * MiB);
    const repo = path.join(tmp.dir, 'repo');
    resticOk(repo, PASSWORD, ['init']);
    resticOk(repo, PASSWORD, ['backup', '--host', 'h', src]);
    const afterRestic = duBytes(repo);
    const r = cli(['-r', repo, 'backup', '--host', 'h', src], { RESTIC_PASSWORD: PASSWORD });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const growth = duBytes(repo) - afterRestic;
    expect(growth).toBeLessThan(dataSize / 100);

    const snaps = JSON.parse(resticOk(repo, PASSWORD, ['snapshots', '--json'])) as Array<{ id: string; time: string }>;
    expect(snaps).toHaveLength(2);
    snaps.sort((a, b) => Date.parse(a.time) - Date.parse(b.time));
    const theirs = lsJson(repo, snaps[0]!.id);
    const ours = lsJson(repo, snaps[1]!.id);
    let files = 0;
    for (const [p, t] of theirs) {
      if (t.type !== 'file') continue;
      const o = ours.get(p);
      expect(o, p).toBeDefined();
      expect(o).toEqual(t);
      files++;
    }
    expect(files).toBe(308);
  });
});
