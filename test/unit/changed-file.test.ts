/**
 * Issue 18 item 2: a file that grows or shrinks while it is read is recorded with the size
 * actually read (restic's node.Size is the sum of the chunks), the change is reported, and
 * `restore --verify` checks the recorded size as well as the content.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MemoryBackend, Repository, backup, restore, type ArchiverFs, type Node } from '../../src/index.js';
import { nodeFs } from '../../src/archiver/fs.js';
import { tempDir } from '../helpers/tmp.js';

const KDF = { N: 1024, r: 8, p: 1 };
let tmp: { dir: string; cleanup: () => void };
beforeEach(() => {
  tmp = tempDir('h18-changed-');
});
afterEach(() => tmp.cleanup());

/** The real file system, but the first read of `file` first changes it with `change`. */
function changingFs(file: string, change: () => void): ArchiverFs {
  let done = false;
  return {
    ...nodeFs,
    read: (fd, buf, off, len, pos) => {
      if (!done && fs.readlinkSync(`/proc/self/fd/${fd}`) === file) {
        done = true;
        change();
      }
      return nodeFs.read(fd, buf, off, len, pos);
    },
  };
}

async function fileNode(repo: Repository, tree: string, name: string): Promise<Node> {
  const node = (await repo.loadTree(tree)).find((n) => Buffer.from(n.name).toString() === name);
  if (!node) throw new Error(`${name} not in tree`);
  return node;
}

/** The node at absolute path `p` of the snapshot tree, with the tree ID holding it. */
async function nodeAt(repo: Repository, root: string, p: string): Promise<{ node: Node; tree: string }> {
  const parts = p.split('/').filter(Boolean);
  let tree = root;
  for (;;) {
    const node = await fileNode(repo, tree, parts.shift()!);
    if (!parts.length) return { node, tree };
    tree = node.subtree!;
  }
}

async function contentSize(repo: Repository, node: Node): Promise<number> {
  let total = 0;
  for (const id of node.content ?? []) total += (await repo.loadBlob('data', id)).length;
  return total;
}

describe('a file that changes size while it is read', () => {
  for (const [what, grow] of [
    ['grows', true],
    ['shrinks', false],
  ] as const) {
    it(`${what}: the snapshot records the size read, the change is reported, restore --verify passes`, async () => {
      const src = path.join(tmp.dir, 'src');
      fs.mkdirSync(src);
      const file = path.join(src, 'log');
      fs.writeFileSync(file, Buffer.alloc(3 * 1024 * 1024, 7));
      const change = grow ? () => fs.appendFileSync(file, Buffer.alloc(2 * 1024 * 1024, 9)) : () => fs.truncateSync(file, 1024 * 1024 + 17);
      const repo = await Repository.init(new MemoryBackend(), 'pw', { version: 2, kdf: KDF });
      const seen: unknown[] = [];
      const r = await backup(repo, [src], { hostname: 'h', fs: changingFs(file, change), onFileChanged: (c) => seen.push(c) });
      const want = grow ? 5 * 1024 * 1024 : 1024 * 1024 + 17;
      expect(r.changed).toEqual([{ path: file, expected: 3 * 1024 * 1024, saved: want }]);
      expect(seen).toEqual(r.changed);
      expect(r.warnings).toEqual([]);

      const { node } = await nodeAt(repo, r.snapshot.tree!, file);
      expect(node.size).toBe(want);
      expect(await contentSize(repo, node)).toBe(want);

      const target = path.join(tmp.dir, 'target');
      const warnings: string[] = [];
      const stats = await restore(repo, r.snapshotId, target, { verify: true, onWarning: (w) => warnings.push(w.message) });
      expect(warnings).toEqual([]);
      expect(stats.verified).toBe(1);
      expect(fs.statSync(path.join(target, file)).size).toBe(want);
    });
  }

  it('restore --verify reports a file whose size differs from the snapshot even when the content matches', async () => {
    const src = path.join(tmp.dir, 'src');
    fs.mkdirSync(src);
    fs.writeFileSync(path.join(src, 'f'), 'hello world\n');
    const repo = await Repository.init(new MemoryBackend(), 'pw', { version: 2, kdf: KDF });
    // back up the file alone: the snapshot tree then holds the dirs of its path and the file
    const r = await backup(repo, [path.join(src, 'f')], { hostname: 'h' });
    // A snapshot as the old archiver wrote it: a size other than what was read.
    const { node, tree } = await nodeAt(repo, r.snapshot.tree!, path.join(src, 'f'));
    const siblings = (await repo.loadTree(tree)).map((n) =>
      Buffer.compare(Buffer.from(n.name), Buffer.from(node.name)) ? n : { ...n, size: 5 },
    );
    let sub = await repo.saveTree(siblings);
    const parts = src.split('/').filter(Boolean);
    while (parts.length) {
      const dir = parts.join('/');
      const { node: d, tree: holder } = await nodeAt(repo, r.snapshot.tree!, '/' + dir);
      const list = (await repo.loadTree(holder)).map((n) =>
        Buffer.compare(Buffer.from(n.name), Buffer.from(d.name)) ? n : { ...n, subtree: sub },
      );
      sub = await repo.saveTree(list);
      parts.pop();
    }
    await repo.flush();
    const id = await repo.saveSnapshot({ ...r.snapshot, tree: sub, parent: undefined });

    const target = path.join(tmp.dir, 'target');
    const warnings: string[] = [];
    const stats = await restore(repo, id, target, { verify: true, onWarning: (w) => warnings.push(w.message) });
    expect(stats.verified).toBe(0);
    expect(warnings).toEqual([`Invalid file size for ${path.join(target, src, 'f')}: expected 5, got 12`]);
  });
});
