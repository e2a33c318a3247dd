/**
 * Every node type restic records, created as root (the CI user): fifo, char and block
 * devices, hard links, a socket (skipped, as restic skips it), setuid/setgid/sticky bits,
 * non-UTF-8 names and symlink targets, empty and sparse files, deep nesting.
 * restic restores our backup exactly as it restores its own; we restore restic's backup
 * exactly as restic does; and we restore our own backup identical to the source.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cli } from '../helpers/cli.js';
import { resticOk } from '../helpers/restic.js';
import { pseudoRandom } from '../helpers/gentree.js';
import { tempDir } from '../helpers/tmp.js';

const PASSWORD = 'types';
let tmp: ReturnType<typeof tempDir>;
let src: string;
let server: net.Server;

const B = (s: string | Buffer) => (typeof s === 'string' ? Buffer.from(s) : s);
const join = (...parts: (string | Buffer)[]) => Buffer.concat(parts.flatMap((p, i) => (i ? [Buffer.from('/'), B(p)] : [B(p)])));

beforeAll(async () => {
  tmp = tempDir();
  src = path.join(tmp.dir, 'src');
  fs.mkdirSync(src);
  const t = (p: Buffer | string, s: number) => fs.lutimesSync(p, 1_600_000_000 + s, 1_600_000_000 + s);
  fs.writeFileSync(path.join(src, 'regular'), 'hello\n');
  fs.writeFileSync(path.join(src, 'empty'), '');
  // sparse: 1 MiB of data inside a 12 MiB hole-y file
  const fd = fs.openSync(path.join(src, 'sparse'), 'w');
  fs.writeSync(fd, pseudoRandom('sparse', 1 << 20), 0, 1 << 20, 5 << 20);
  fs.ftruncateSync(fd, 12 << 20);
  fs.closeSync(fd);
  fs.writeFileSync(path.join(src, 'hl-a'), 'linked content\n');
  fs.linkSync(path.join(src, 'hl-a'), path.join(src, 'hl-b'));
  execFileSync('mkfifo', [path.join(src, 'fifo')]);
  execFileSync('mknod', [path.join(src, 'chr'), 'c', '1', '3']);
  execFileSync('mknod', [path.join(src, 'blk'), 'b', '7', '0']);
  fs.writeFileSync(path.join(src, 'setuid'), '#!/bin/sh\n');
  fs.chmodSync(path.join(src, 'setuid'), 0o4755);
  fs.mkdirSync(path.join(src, 'setgid-dir'));
  fs.chmodSync(path.join(src, 'setgid-dir'), 0o2775);
  fs.mkdirSync(path.join(src, 'sticky-dir'));
  fs.chmodSync(path.join(src, 'sticky-dir'), 0o1777);
  const bad = join(src, Buffer.from([0x6e, 0x6f, 0x6e, 0xff, 0x75, 0x74, 0x66]));
  fs.writeFileSync(bad, 'non-utf8 name\n');
  fs.symlinkSync(Buffer.from([0x62, 0x61, 0x64, 0xfe, 0xfd]), join(src, 'bad-target'));
  fs.symlinkSync('regular', path.join(src, 'good-link'));
  let deep = src;
  for (let i = 0; i < 30; i++) deep = path.join(deep, `d${i}`);
  fs.mkdirSync(deep, { recursive: true });
  fs.writeFileSync(path.join(deep, 'leaf'), 'deep\n');
  fs.chownSync(path.join(src, 'regular'), 1234, 5678);
  server = net.createServer();
  await new Promise<void>((r) => server.listen(path.join(src, 'socket'), r));
  let n = 0;
  const walk = (p: Buffer) => {
    for (const e of fs.readdirSync(p, { encoding: 'buffer' })) {
      const c = join(p, e);
      if (fs.lstatSync(c).isDirectory()) walk(c);
      if (!e.equals(Buffer.from('socket'))) t(c, n++);
    }
  };
  walk(B(src));
});
afterAll(() => {
  server?.close();
  tmp.cleanup();
});

interface Item {
  type: string;
  mode: number;
  uid: number;
  gid: number;
  size?: number;
  sha?: string;
  target?: string;
  rdev?: number;
  mtime?: bigint;
  link?: string;
}

/** Everything restic restores about each entry, keyed by the raw path bytes (hex). */
function describe_(root: string): Map<string, Item> {
  const out = new Map<string, Item>();
  const inodes = new Map<bigint, string>();
  const walk = (rel: Buffer) => {
    const abs = rel.length ? join(root, rel) : B(root);
    for (const name of fs.readdirSync(abs, { encoding: 'buffer' }).sort(Buffer.compare)) {
      const r = rel.length ? join(rel, name) : name;
      const p = join(root, r);
      const st = fs.lstatSync(p, { bigint: true });
      const fmt = Number(st.mode) & 0o170000;
      const type =
        {
          0o100000: 'file',
          0o040000: 'dir',
          0o120000: 'symlink',
          0o010000: 'fifo',
          0o020000: 'chardev',
          0o060000: 'dev',
          0o140000: 'socket',
        }[fmt] ?? 'other';
      const it: Item = { type, mode: type === 'symlink' ? 0 : Number(st.mode) & 0o7777, uid: Number(st.uid), gid: Number(st.gid) };
      if (type === 'file') {
        it.size = Number(st.size);
        it.sha = crypto.createHash('sha256').update(fs.readFileSync(p)).digest('hex');
        if (st.nlink > 1n) {
          if (!inodes.has(st.ino)) inodes.set(st.ino, r.toString('hex'));
          it.link = inodes.get(st.ino);
        }
      }
      if (type === 'symlink') it.target = fs.readlinkSync(p, { encoding: 'buffer' }).toString('hex');
      if (type === 'chardev' || type === 'dev') it.rdev = Number(st.rdev);
      if (type === 'file' || type === 'dir' || type === 'fifo') it.mtime = st.mtimeNs / 1000n; // µs
      out.set(r.toString('hex'), it);
      if (type === 'dir') walk(r);
    }
  };
  walk(Buffer.alloc(0));
  return out;
}

function diff(a: Map<string, Item>, b: Map<string, Item>): string[] {
  const d: string[] = [];
  for (const [k, v] of a) {
    const w = b.get(k);
    const name = Buffer.from(k, 'hex').toString();
    if (!w) d.push(`missing ${name}`);
    else if (
      JSON.stringify(v, (_, x) => (typeof x === 'bigint' ? String(x) : x)) !==
      JSON.stringify(w, (_, x) => (typeof x === 'bigint' ? String(x) : x))
    ) {
      d.push(
        `${name}: ${JSON.stringify(v, (_, x) => (typeof x === 'bigint' ? String(x) : x))} != ${JSON.stringify(w, (_, x) => (typeof x === 'bigint' ? String(x) : x))}`,
      );
    }
  }
  for (const k of b.keys()) if (!a.has(k)) d.push(`extra ${Buffer.from(k, 'hex').toString()}`);
  return d;
}

describe('every node type, as root', () => {
  it('round-trips between restic and restic-ts', () => {
    const env = { RESTIC_PASSWORD: PASSWORD };
    const ours = path.join(tmp.dir, 'ours');
    const theirs = path.join(tmp.dir, 'theirs');
    expect(cli(['-r', ours, 'init'], env).code).toBe(0);
    const b = cli(['-r', ours, 'backup', src], env);
    expect(b.stderr).toBe('');
    expect(b.code).toBe(0);
    resticOk(theirs, PASSWORD, ['init']);
    resticOk(theirs, PASSWORD, ['backup', src]);

    const restore = (tool: 'restic' | 'ours', repo: string, out: string) => {
      if (tool === 'restic') resticOk(repo, PASSWORD, ['restore', 'latest', '--target', out]);
      else {
        const r = cli(['-r', repo, 'restore', 'latest', '--target', out], env);
        expect(r.stderr).toBe('');
        expect(r.code).toBe(0);
      }
      return describe_(path.join(out, src));
    };
    const A = restore('restic', theirs, path.join(tmp.dir, 'A'));
    const Bm = restore('restic', ours, path.join(tmp.dir, 'B'));
    const C = restore('ours', theirs, path.join(tmp.dir, 'C'));
    const D = restore('ours', ours, path.join(tmp.dir, 'D'));
    const S = describe_(src);
    S.delete(Buffer.from('socket').toString('hex')); // restic skips sockets

    expect(diff(Bm, A)).toEqual([]); // restic restores our backup as it restores its own
    expect(diff(C, A)).toEqual([]); // we restore restic's backup as restic does
    expect(diff(D, S)).toEqual([]); // our own round trip is exact (incl. raw symlink targets)
    expect(A.get(Buffer.from('hl-b').toString('hex'))!.link).toBe(Buffer.from('hl-a').toString('hex'));

    // `ls --json` of both tools agrees node for node on both snapshots (the snapshot line too)
    for (const repo of [ours, theirs]) {
      const mine = cli(['-r', repo, 'ls', '--json', 'latest'], env);
      expect(mine.code, mine.stderr).toBe(0);
      const lines = (s: string) =>
        s
          .trim()
          .split('\n')
          .map((l) => JSON.parse(l));
      const a = lines(mine.stdout);
      const b = lines(resticOk(repo, PASSWORD, ['ls', '--json', 'latest']));
      expect(a.length).toBeGreaterThan(40);
      expect(a).toEqual(b);
      expect(mine.stdout).toBe(resticOk(repo, PASSWORD, ['ls', '--json', 'latest']));
      const types = new Set(a.map((n) => n.type));
      for (const t of ['file', 'dir', 'symlink', 'fifo', 'chardev', 'dev']) expect(types, repo).toContain(t);
    }
    expect(D.get(Buffer.from('chr').toString('hex'))!.rdev).toBe(259);
  });
});
