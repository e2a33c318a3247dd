/**
 * How backup targets map onto the snapshot's tree, following restic 0.14: an absolute
 * target keeps every path component as an intermediate directory (with that directory's
 * own metadata); a relative target starts at the root; "." and ".." expand to their
 * entries. Targets under another target are merged into it.
 */
import path from 'node:path';
import { UsageError } from '../errors.js';
import { bstrFromText } from '../go/bytestring.js';
import type { ArchiverFs } from './fs.js';

export interface TargetTree {
  /** Children keyed by raw name bytes (latin1 string of the bytes). */
  children: Map<string, TargetTree>;
  /** Leaf: the file or directory whose contents go here. */
  path?: Buffer;
  /** Intermediate directory: where its metadata is read from. */
  metaPath?: Buffer;
  /** Parent directory of the top-level component, to tell same-named targets apart. */
  root?: string;
}

/** Paths are handled as latin1 "binary strings" so every byte survives path operations. */
const key = (b: Buffer | string) => (typeof b === 'string' ? b : b.toString('latin1'));

function components(p: string): string[] {
  const abs = path.posix.isAbsolute(p) ? p : path.posix.join('/', p);
  return path.posix
    .normalize(abs)
    .split('/')
    .filter((c) => c !== '');
}

function rootDirectory(target: string): string {
  if (path.posix.isAbsolute(target)) return '/';
  let rel = '.';
  for (const c of path.posix.normalize(target).split('/')) if (c === '..') rel = path.posix.join(rel, c);
  return rel;
}

/** restic expands targets without components (".", "..", "../..") into their entries. */
function expandTargets(fsys: ArchiverFs, targets: string[]): string[] {
  const out: string[] = [];
  for (const t of targets) {
    const clean = path.posix.normalize(t);
    if (!path.posix.isAbsolute(clean) && components(clean).length === 0) {
      for (const name of fsys.readdir(Buffer.from(clean, 'latin1')).sort(Buffer.compare)) {
        out.push(path.posix.join(clean, name.toString('latin1')));
      }
    } else out.push(clean);
  }
  return out;
}

function addTarget(root: TargetTree, target: string): void {
  const pc = components(target);
  if (pc.length === 0) throw new UsageError(`invalid backup target ${JSON.stringify(target)}`);
  const rootDir = rootDirectory(target);
  let name = pc[0]!;
  let top: TargetTree = { children: new Map(), root: rootDir };
  for (let i = 1; ; i++) {
    const other = root.children.get(key(name));
    if (!other) break;
    if (other.root === rootDir) {
      top = other;
      break;
    }
    name = `${pc[0]}-${i}`;
  }
  root.children.set(key(name), top);
  if (pc.length === 1) {
    top.path = Buffer.from(target, 'latin1');
    return;
  }
  let dir = path.posix.join(rootDir, pc[0]!);
  top.metaPath = Buffer.from(dir, 'latin1');
  let node = top;
  for (let i = 1; i < pc.length; i++) {
    const c = pc[i]!;
    let child = node.children.get(key(c));
    if (!child) {
      child = { children: new Map() };
      node.children.set(key(c), child);
    }
    if (i === pc.length - 1) {
      if (child.path) throw new Error(`path is already set for target ${target}`);
      child.path = Buffer.from(target, 'latin1');
    } else {
      dir = path.posix.join(dir, c);
      child.metaPath = Buffer.from(dir, 'latin1');
    }
    node = child;
  }
}

/** A leaf that also has children (target inside another target) becomes a directory listing. */
function unroll(fsys: ArchiverFs, t: TargetTree): void {
  if (t.path && t.children.size > 0) {
    for (const entry of fsys.readdir(t.path)) {
      const p = Buffer.concat([t.path, Buffer.from('/'), entry]);
      const child = t.children.get(key(entry));
      if (!child) t.children.set(key(entry), { children: new Map(), path: p });
      else if (!child.path) child.path = p;
    }
    t.metaPath = t.path;
    t.path = undefined;
  }
  for (const c of t.children.values()) unroll(fsys, c);
}

export function buildTargetTree(fsys: ArchiverFs, targets: string[]): TargetTree {
  const root: TargetTree = { children: new Map() };
  const seen = new Set<string>();
  for (const t of expandTargets(fsys, targets.map(bstrFromText))) {
    if (seen.has(t)) continue;
    seen.add(t);
    addTarget(root, t);
  }
  unroll(fsys, root);
  return root;
}

export function nameBytes(k: string): Buffer {
  return Buffer.from(k, 'latin1');
}
