/**
 * `dump`: a file of a snapshot as its raw content, or a directory (or the whole
 * snapshot) as a tar or zip archive, streamed to a sink, following restic 0.14's
 * internal/dump: the archive holds the directory's contents (not the directory itself)
 * in walk order; below the top level only files, directories and symlinks are included.
 */
import type { Node } from '../format/node.js';
import type { BlobType } from '../format/pack.js';
import { parseGoTime } from '../go/time.js';
import { posixPermFromGo } from '../format/mode.js';
import { NotFoundError, ResticError } from '../errors.js';
import { type ByteString, bstr, bstrFromText, bstrText, cleanPath, joinPath } from '../go/bytestring.js';
import { walkTree } from '../walker/walker.js';
import { TarType, TarWriter } from '../go/tar.js';
import { ZipWriter } from './zip.js';

export type ArchiveFormat = 'tar' | 'zip';

export class DumpError extends ResticError {}

/** What dumping needs from a repository. */
export interface DumpRepository {
  loadTree(id: string): Promise<Node[]>;
  loadBlob(type: BlobType, id: string): Promise<Uint8Array>;
}

export type Sink = (chunk: Uint8Array) => void | Promise<void>;

/** A file node's content, blob by blob (verified on load), into `write`. */
export async function writeNodeContent(repo: DumpRepository, node: Node, write: Sink): Promise<void> {
  for (const id of node.content ?? []) await write(await repo.loadBlob('data', id));
}

/**
 * restic's sendTrees/sendNodes: calls `fn` for each node below a tree with its absolute
 * path, in walk order; the top-level nodes are all included, deeper ones only when they
 * are files, directories or symlinks.
 */
async function forEachArchiveEntry(
  repo: DumpRepository,
  nodes: Node[],
  rootPath: ByteString,
  fn: (node: Node, path: ByteString) => Promise<void>,
): Promise<void> {
  for (const root of nodes) {
    const rootPathOfNode = joinPath(rootPath, bstr(root.name));
    await fn(root, rootPathOfNode);
    if (root.type !== 'dir' || !root.subtree) continue;
    await walkTree(repo, root.subtree, async (_parent, nodepath, node, err) => {
      if (err) throw err;
      if (node === null) return {};
      if (node.type === 'file' || node.type === 'dir' || node.type === 'symlink') await fn(node, joinPath(rootPathOfNode, nodepath));
      return {};
    });
  }
}

function mtimeOf(node: Node): { sec: bigint; nsec: number } {
  const g = parseGoTime(node.mtime);
  return { sec: g.sec, nsec: g.nsec };
}

/** restic's parseXattrs: PAX records for extended attributes (POSIX ACLs as text). */
function xattrPaxRecords(node: Node): Map<string, ByteString> {
  const m = new Map<string, ByteString>();
  for (const a of node.extendedAttributes ?? []) {
    if (a.name.startsWith('system.posix_acl_')) {
      const text = aclText(a.value);
      if (text !== '') {
        if (a.name.includes('system.posix_acl_access')) m.set('SCHILY.acl.access', text);
        else if (a.name.includes('system.posix_acl_default')) m.set('SCHILY.acl.default', text);
      }
    } else {
      m.set('SCHILY.xattr.' + a.name, bstr(a.value));
    }
  }
  return m;
}

/** A POSIX ACL xattr (version + 8-byte entries, little endian) as restic's acl.String(). */
function aclText(v: Uint8Array): string {
  if (v.length < 4) return '';
  const dv = new DataView(v.buffer, v.byteOffset, v.byteLength);
  let out = '';
  for (let o = 4; o + 8 <= v.length; o += 8) {
    const tag = dv.getUint16(o, true);
    const perm = dv.getUint16(o + 2, true);
    const id = dv.getUint32(o + 4, true);
    const who =
      tag === 0x01
        ? 'user::'
        : tag === 0x02
          ? `user:${id}:`
          : tag === 0x04
            ? 'group::'
            : tag === 0x08
              ? `group:${id}:`
              : tag === 0x10
                ? 'mask::'
                : tag === 0x20
                  ? 'other::'
                  : '?:';
    out += who + (perm & 4 ? 'r' : '-') + (perm & 2 ? 'w' : '-') + (perm & 1 ? 'x' : '-') + '\n';
  }
  return out;
}

/** filepath.Rel("/", p) for an absolute, clean p. */
function relFromRoot(p: ByteString): ByteString {
  const c = cleanPath(p);
  return c === '/' ? '.' : c.slice(1);
}

/** Write the nodes below a directory tree as an archive (restic's Dumper.DumpTree). */
export async function dumpTree(
  repo: DumpRepository,
  nodes: Node[],
  rootPath: ByteString,
  format: ArchiveFormat,
  sink: Sink,
): Promise<void> {
  if (format === 'tar') {
    const tw = new TarWriter(sink);
    await forEachArchiveEntry(repo, nodes, rootPath, async (node, path) => {
      const mode = node.mode ?? 0;
      let name = relFromRoot(path);
      let typeflag: number = TarType.RegA;
      let linkname: ByteString | undefined;
      if (node.type === 'file') typeflag = TarType.Reg;
      if (node.type === 'symlink') {
        typeflag = TarType.Symlink;
        linkname = bstr(node.linktarget ?? new Uint8Array());
      }
      if (node.type === 'dir') {
        typeflag = TarType.Dir;
        name += '/';
      }
      await tw.writeHeader({
        name,
        typeflag,
        linkname,
        mode: posixPermFromGo(mode),
        uid: node.uid,
        gid: node.gid,
        uname: bstrFromText(node.user ?? ''),
        gname: bstrFromText(node.group ?? ''),
        size: node.size ?? 0,
        mtime: mtimeOf(node),
        paxRecords: xattrPaxRecords(node),
      });
      await writeNodeContent(repo, node, (c) => tw.write(c));
    });
    await tw.close();
    return;
  }
  const zw = new ZipWriter(sink);
  await forEachArchiveEntry(repo, nodes, rootPath, async (node, path) => {
    let name = relFromRoot(path);
    if (node.type === 'dir') name += '/';
    const mt = parseGoTime(node.mtime);
    await zw.addEntry({ name: bstrText(name), mode: node.mode ?? 0, mtimeSec: Number(mt.sec), offsetMinutes: mt.offsetMinutes });
    if (node.type === 'symlink') await zw.write(node.linktarget ?? new Uint8Array());
    else await writeNodeContent(repo, node, (c) => zw.write(c));
  });
  await zw.close();
}

/** restic's splitPath(path.Clean(p)): the components of a path to dump; [""] for "/". */
function splitDumpPath(p: ByteString): ByteString[] {
  const clean = cleanPath(p);
  if (clean === '/') return [''];
  return (clean.startsWith('/') ? clean.slice(1) : clean).split('/');
}

export interface DumpOptions {
  format?: ArchiveFormat;
  /**
   * Called before an archive is written (restic refuses to write one to a terminal);
   * throwing stops the dump.
   */
  beforeArchive?: () => void;
}

/**
 * Dump `path` (a byte string; "/" for everything) of the snapshot tree `treeId`: a file's
 * content, or a directory as an archive of its contents. Returns what was written.
 */
export async function dumpPath(
  repo: DumpRepository,
  treeId: string,
  path: ByteString,
  sink: Sink,
  opts: DumpOptions = {},
): Promise<'file' | 'archive'> {
  const format = opts.format ?? 'tar';
  let components = splitDumpPath(path);
  let nodes = await repo.loadTree(treeId);
  let prefix: ByteString = '/';
  for (;;) {
    const first = components[0]!;
    if (first === '') {
      opts.beforeArchive?.();
      await dumpTree(repo, nodes, '/', format, sink);
      return 'archive';
    }
    const item = joinPath(prefix, first);
    const l = components.length;
    const node = nodes.find((n) => bstr(n.name) === first);
    if (!node) throw new NotFoundError(`path ${JSON.stringify(bstrText(item))} not found in snapshot`);
    if (l === 1 && node.type === 'file') {
      await writeNodeContent(repo, node, sink);
      return 'file';
    }
    if (node.type === 'dir' && node.subtree) {
      const subtree = await repo.loadTree(node.subtree);
      if (l > 1) {
        nodes = subtree;
        prefix = item;
        components = components.slice(1);
        continue;
      }
      opts.beforeArchive?.();
      await dumpTree(repo, subtree, item, format, sink);
      return 'archive';
    }
    if (l > 1) throw new DumpError(`${JSON.stringify(bstrText(item))} should be a dir, but is a ${JSON.stringify(node.type)}`);
    throw new DumpError(`${JSON.stringify(bstrText(item))} should be a file, but is a ${JSON.stringify(node.type)}`);
  }
}
