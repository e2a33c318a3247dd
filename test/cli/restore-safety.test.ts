/** A crafted repository cannot make the restorer write outside its target. */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalBackend, Repository, restore } from '../../src/index.js';
import { cli } from '../helpers/cli.js';
import { tempDir } from '../helpers/tmp.js';

let tmp: ReturnType<typeof tempDir>;
beforeAll(() => {
  tmp = tempDir();
});
afterAll(() => tmp.cleanup());

const T = '2020-01-01T00:00:00Z';
const fileNode = (name: string, content: string[]) =>
  `{"name":${JSON.stringify(name)},"type":"file","mode":420,"mtime":"${T}","atime":"${T}","ctime":"${T}","uid":0,"gid":0,"size":5,"content":${JSON.stringify(content)}}`;
const dirNode = (name: string, subtree: string) =>
  `{"name":${JSON.stringify(name)},"type":"dir","mode":2147484141,"mtime":"${T}","atime":"${T}","ctime":"${T}","uid":0,"gid":0,"content":null,"subtree":"${subtree}"}`;
const linkNode = (name: string, target: string) =>
  `{"name":${JSON.stringify(name)},"type":"symlink","mode":134218239,"mtime":"${T}","atime":"${T}","ctime":"${T}","uid":0,"gid":0,"linktarget":${JSON.stringify(target)},"content":null}`;

describe('restoring a hostile tree', () => {
  it('refuses ../escape, a/b, . and .., and never writes through an absolute symlink', async () => {
    const repoPath = path.join(tmp.dir, 'repo');
    const outside = path.join(tmp.dir, 'outside');
    fs.mkdirSync(outside);
    const repo = await Repository.init(new LocalBackend(repoPath), 'pw', { version: 2, kdf: { N: 1024, r: 8, p: 1 } });
    const data = (await repo.saveBlob('data', Buffer.from('evil\n'))).id;
    // the subtree a directory named like the symlink would restore into
    const inner = (await repo.saveBlob('tree', Buffer.from(`{"nodes":[${fileNode('pwned', [data])}]}\n`))).id;
    const nested = (await repo.saveBlob('tree', Buffer.from(`{"nodes":[${fileNode('../../escape2', [data])}]}\n`))).id;
    // Hand-written JSON: names the archiver would never produce, a duplicate name, unsorted order.
    const rootJson =
      `{"nodes":[${fileNode('../escape', [data])},${fileNode('a/b', [data])},${fileNode('..', [data])},${fileNode('.', [data])},` +
      `${linkNode('link', outside)},${dirNode('link', inner)},${dirNode('sub', nested)},${fileNode('ok.txt', [data])}]}\n`;
    const root = (await repo.saveBlob('tree', Buffer.from(rootJson))).id;
    await repo.flush();
    await repo.saveSnapshot({ time: T, tree: root, paths: ['/x'] });

    const target = path.join(tmp.dir, 'target');
    const warnings: string[] = [];
    const reopened = await Repository.open(new LocalBackend(repoPath), 'pw');
    const stats = await restore(reopened, 'latest', target, { onWarning: (w) => warnings.push(w.message) });
    expect(fs.readdirSync(outside)).toEqual([]);
    expect(fs.existsSync(path.join(tmp.dir, 'escape'))).toBe(false);
    expect(fs.existsSync(path.join(tmp.dir, 'escape2'))).toBe(false);
    expect(fs.readFileSync(path.join(target, 'ok.txt'), 'utf8')).toBe('evil\n');
    // "link" ends up as a real directory inside the target, not a way out of it
    expect(fs.lstatSync(path.join(target, 'link')).isDirectory()).toBe(true);
    expect(warnings.filter((w) => /unsafe name/.test(w))).toHaveLength(5);
    expect(stats.errors).toBe(5);

    // the CLI reports the same as errors and exits 1
    const r = cli(['-r', repoPath, 'restore', 'latest', '--target', path.join(tmp.dir, 'target2')], { RESTIC_PASSWORD: 'pw' });
    expect(r.code).toBe(1);
    expect(fs.readdirSync(outside)).toEqual([]);
    const all = (dir: string): string[] => fs.readdirSync(dir, { recursive: true }) as string[];
    expect(all(tmp.dir).filter((p) => /escape/.test(p))).toEqual([]);
  });
});
