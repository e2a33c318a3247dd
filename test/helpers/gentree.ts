/**
 * Deterministic source trees for backup tests, and a comparison of two trees by
 * content, mode, mtime and symlink target.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

/** Deterministic pseudo-random bytes (AES-CTR keystream of a label). */
export function pseudoRandom(label: string, length: number): Buffer {
  const key = crypto.createHash('sha256').update(label).digest();
  return crypto.createCipheriv('aes-256-ctr', key, Buffer.alloc(16)).update(Buffer.alloc(length));
}

const BASE_TIME = 1_600_000_000; // 2020-09-13

function setTimes(p: string, i: number): void {
  const t = BASE_TIME + i * 3607 + (i % 7) * 0.123456;
  fs.utimesSync(p, t, t);
}

/**
 * ≥ 200 files: empty files, tiny files, a large multi-chunk file, nested directories,
 * symlinks, Unicode names, modes 0600/0644/0755, fixed mtimes.
 */
export function generateTree(root: string, opts: { bigFileSize?: number } = {}): void {
  const big = opts.bigFileSize ?? 20 * 1024 * 1024;
  fs.mkdirSync(root, { recursive: true });
  const modes = [0o600, 0o644, 0o755];
  let n = 0;
  for (let d = 0; d < 5; d++) {
    const dir = path.join(root, `dir${d}`, `sub${d % 2}`);
    fs.mkdirSync(dir, { recursive: true });
    for (let f = 0; f < 42; f++) {
      const p = path.join(dir, `file${f}.txt`);
      const size = f % 10 === 0 ? 0 : f % 3 === 0 ? 3 + f : 100 + ((f * 7919) % 60000);
      fs.writeFileSync(p, pseudoRandom(`small:${d}:${f}`, size));
      fs.chmodSync(p, modes[(d + f) % 3]!);
      setTimes(p, n++);
    }
  }
  const unicode = ['ünïcödé.txt', '日本語のファイル', 'emoji-😀.bin', 'spaces and tabs\t.txt', 'quote"back\\slash', '<html>&amp;'];
  const udir = path.join(root, 'ünïcode-dïr');
  fs.mkdirSync(udir);
  for (const name of unicode) {
    const p = path.join(udir, name);
    fs.writeFileSync(p, `content of ${name}\n`);
    setTimes(p, n++);
  }
  fs.writeFileSync(path.join(root, 'big.bin'), pseudoRandom('big', big));
  fs.chmodSync(path.join(root, 'big.bin'), 0o644);
  setTimes(path.join(root, 'big.bin'), n++);
  fs.writeFileSync(path.join(root, 'empty'), '');
  setTimes(path.join(root, 'empty'), n++);
  let deep = root;
  for (let i = 0; i < 12; i++) deep = path.join(deep, `level${i}`);
  fs.mkdirSync(deep, { recursive: true });
  fs.writeFileSync(path.join(deep, 'deep.txt'), 'deep\n');
  setTimes(path.join(deep, 'deep.txt'), n++);
  fs.symlinkSync('dir0/sub0/file1.txt', path.join(root, 'link-rel'));
  fs.symlinkSync('/nonexistent/target', path.join(root, 'link-dangling'));
  fs.symlinkSync('ünïcode-dïr', path.join(udir, '..', 'link-ünï'));
  fs.chmodSync(path.join(root, 'dir1'), 0o750);
  // Directory times last, deepest first, so creating children does not change them.
  const dirs: string[] = [];
  const walk = (p: string) => {
    for (const e of fs.readdirSync(p, { withFileTypes: true })) if (e.isDirectory()) walk(path.join(p, e.name));
    dirs.push(p);
  };
  walk(root);
  for (const d of dirs) if (d !== root) setTimes(d, n++);
}

export interface Entry {
  type: string;
  mode: number;
  mtimeNs: bigint;
  size: number;
  sha?: string;
  target?: string;
}

/** Map of relative path → metadata for every entry below root. */
export function describeTree(root: string): Map<string, Entry> {
  const out = new Map<string, Entry>();
  const walk = (rel: string) => {
    const abs = path.join(root, rel);
    for (const name of fs.readdirSync(abs)) {
      const r = path.join(rel, name);
      const p = path.join(root, r);
      const st = fs.lstatSync(p, { bigint: true });
      const e: Entry = { type: '', mode: Number(st.mode) & 0o7777, mtimeNs: st.mtimeNs, size: Number(st.size) };
      if (st.isSymbolicLink()) {
        e.type = 'symlink';
        e.target = fs.readlinkSync(p);
        e.mode = 0;
        e.mtimeNs = 0n; // not compared: symlink times depend on lutimes support
      } else if (st.isDirectory()) {
        e.type = 'dir';
        e.size = 0;
        walk(r);
      } else if (st.isFile()) {
        e.type = 'file';
        e.sha = crypto.createHash('sha256').update(fs.readFileSync(p)).digest('hex');
      } else e.type = 'other';
      out.set(r, e);
    }
  };
  walk('');
  return out;
}

/** Differences between two trees, as human-readable lines (empty when identical). */
/**
 * `mtimeToleranceNs`: Node can only set times through a double (sub-microsecond error),
 * so restores made by restic-ts are compared with a small tolerance; restic's are exact.
 */
export function diffTrees(a: string, b: string, opts: { mtimeToleranceNs?: bigint } = {}): string[] {
  const tol = opts.mtimeToleranceNs ?? 0n;
  const da = describeTree(a);
  const db = describeTree(b);
  const diffs: string[] = [];
  for (const [p, ea] of da) {
    const eb = db.get(p);
    if (!eb) {
      diffs.push(`missing: ${p}`);
      continue;
    }
    for (const k of ['type', 'mode', 'size', 'sha', 'target'] as const) {
      if (ea[k] !== eb[k]) diffs.push(`${p}: ${k} ${String(ea[k])} != ${String(eb[k])}`);
    }
    const dt = ea.mtimeNs - eb.mtimeNs;
    if (dt > tol || -dt > tol) diffs.push(`${p}: mtime ${ea.mtimeNs} != ${eb.mtimeNs}`);
  }
  for (const p of db.keys()) if (!da.has(p)) diffs.push(`extra: ${p}`);
  return diffs;
}

/** Text-like, compressible bytes. */
export function textLike(label: string, length: number): Buffer {
  const words = ['restic', 'backup', 'pack', 'blob', 'tree', 'index', 'snapshot', 'chunk', 'worker', 'ring'];
  const r = pseudoRandom(label, length);
  const parts: string[] = [];
  let n = 0;
  for (let i = 0; n < length; i++) {
    const w = words[r[i % r.length]! % words.length]! + (r[(i + 1) % r.length]! % 9 === 0 ? '\n' : ' ');
    parts.push(w);
    n += w.length;
  }
  return Buffer.from(parts.join('')).subarray(0, length);
}
