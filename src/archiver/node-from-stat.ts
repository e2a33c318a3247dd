/** Build a tree node from lstat results, recording what restic 0.14 records on Linux. */
import type fs from 'node:fs';
import type { Node, NodeType } from '../format/node.js';
import { goModeFromPosix } from '../format/mode.js';
import { goTimeFromNs } from '../go/time.js';
import { groupName, userName } from './users.js';

const S_IFMT = 0o170000;

export function nodeTypeOf(st: fs.BigIntStats): NodeType | null {
  switch (Number(st.mode) & S_IFMT) {
    case 0o100000:
      return 'file';
    case 0o040000:
      return 'dir';
    case 0o120000:
      return 'symlink';
    case 0o060000:
      return 'dev';
    case 0o020000:
      return 'chardev';
    case 0o010000:
      return 'fifo';
    case 0o140000:
      return 'socket';
    default:
      return null;
  }
}

/** Metadata common to all node types; `content` and type-specific fields are set by the caller. */
export function nodeFromStat(name: Uint8Array, st: fs.BigIntStats, type: NodeType, withAtime = false): Node {
  const uid = Number(st.uid);
  const gid = Number(st.gid);
  const node: Node = {
    name,
    type,
    mode: goModeFromPosix(Number(st.mode)),
    mtime: goTimeFromNs(st.mtimeNs),
    // restic 0.14 records atime = mtime unless --with-atime, so unchanged files give unchanged trees
    atime: withAtime ? goTimeFromNs(st.atimeNs) : goTimeFromNs(st.mtimeNs),
    ctime: goTimeFromNs(st.ctimeNs),
    uid,
    gid,
    user: userName(uid) || undefined,
    group: groupName(gid) || undefined,
    inode: st.ino,
    deviceId: st.dev,
    content: null,
  };
  switch (type) {
    case 'file':
      node.size = Number(st.size);
      node.links = Number(st.nlink);
      node.content = [];
      break;
    case 'symlink':
      node.links = Number(st.nlink);
      break;
    case 'dev':
    case 'chardev':
      node.links = Number(st.nlink);
      node.device = st.rdev;
      break;
    default:
      break;
  }
  return node;
}
