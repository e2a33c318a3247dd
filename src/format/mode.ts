/**
 * POSIX st_mode ⇄ Go os.FileMode, as restic stores `mode` in tree nodes (§8.4).
 * Go builds FileMode from stat (os/stat_linux.go) and restic keeps only
 * Perm | ModeType | Setuid | Setgid | Sticky.
 */
import { GoMode, type NodeType } from './node.js';

/** POSIX file type and special bits (Linux values). */
export const Posix = {
  S_IFMT: 0o170000,
  S_IFSOCK: 0o140000,
  S_IFLNK: 0o120000,
  S_IFREG: 0o100000,
  S_IFBLK: 0o060000,
  S_IFDIR: 0o040000,
  S_IFCHR: 0o020000,
  S_IFIFO: 0o010000,
  S_ISUID: 0o4000,
  S_ISGID: 0o2000,
  S_ISVTX: 0o1000,
} as const;

/** Go's os.ModeType. */
const GO_MODE_TYPE =
  (GoMode.Dir | GoMode.Symlink | GoMode.NamedPipe | GoMode.Socket | GoMode.Device | GoMode.CharDevice | GoMode.Irregular) >>> 0;

/** The bits restic keeps from fi.Mode() (NodeFromFileInfo's mask). */
const RESTIC_MODE_MASK = (GoMode.Perm | GO_MODE_TYPE | GoMode.Setuid | GoMode.Setgid | GoMode.Sticky) >>> 0;

function goTypeBits(stMode: number): number {
  switch (stMode & Posix.S_IFMT) {
    case Posix.S_IFBLK:
      return GoMode.Device;
    case Posix.S_IFCHR:
      return GoMode.Device | GoMode.CharDevice;
    case Posix.S_IFDIR:
      return GoMode.Dir;
    case Posix.S_IFIFO:
      return GoMode.NamedPipe;
    case Posix.S_IFLNK:
      return GoMode.Symlink;
    case Posix.S_IFSOCK:
      return GoMode.Socket;
    default:
      // S_IFREG, and unknown types, which go1.19 on Linux leaves without type bits.
      return 0;
  }
}

/** The `mode` restic 0.14 stores for an lstat st_mode (unsigned 32-bit). */
export function goModeFromPosix(stMode: number): number {
  let m = (stMode & 0o777) | goTypeBits(stMode);
  if (stMode & Posix.S_ISUID) m |= GoMode.Setuid;
  if (stMode & Posix.S_ISGID) m |= GoMode.Setgid;
  if (stMode & Posix.S_ISVTX) m |= GoMode.Sticky;
  return (m & RESTIC_MODE_MASK) >>> 0;
}

/** restic's nodeTypeFromFileInfo: node `type` for a Go FileMode (undefined: not storable). */
export function nodeTypeFromGoMode(goMode: number): NodeType | undefined {
  switch ((goMode & GO_MODE_TYPE) >>> 0) {
    case 0:
      return 'file';
    case GoMode.Dir >>> 0:
      return 'dir';
    case GoMode.Symlink:
      return 'symlink';
    case GoMode.Device | GoMode.CharDevice:
      return 'chardev';
    case GoMode.Device:
      return 'dev';
    case GoMode.NamedPipe:
      return 'fifo';
    case GoMode.Socket:
      return 'socket';
    default:
      return undefined;
  }
}

/** Permission and setuid/setgid/sticky bits in POSIX form (what Go's os.Chmod passes on). */
export function posixPermFromGo(goMode: number): number {
  let m = goMode & 0o777;
  if (goMode & GoMode.Setuid) m |= Posix.S_ISUID;
  if (goMode & GoMode.Setgid) m |= Posix.S_ISGID;
  if (goMode & GoMode.Sticky) m |= Posix.S_ISVTX;
  return m;
}

/** POSIX file-type bits for a Go FileMode (S_IFREG when no type bit is set). */
export function posixTypeFromGo(goMode: number): number {
  if (goMode & GoMode.Dir) return Posix.S_IFDIR;
  if (goMode & GoMode.Symlink) return Posix.S_IFLNK;
  if (goMode & GoMode.Device) return goMode & GoMode.CharDevice ? Posix.S_IFCHR : Posix.S_IFBLK;
  if (goMode & GoMode.NamedPipe) return Posix.S_IFIFO;
  if (goMode & GoMode.Socket) return Posix.S_IFSOCK;
  return Posix.S_IFREG;
}

/** Full POSIX st_mode (type | special bits | perm) for a Go FileMode. */
export function posixModeFromGo(goMode: number): number {
  return posixTypeFromGo(goMode) | posixPermFromGo(goMode);
}

/** Go FileMode type bits for a node type (restic's Node.String mapping). */
export function goTypeBitsForNodeType(type: NodeType): number {
  switch (type) {
    case 'dir':
      return GoMode.Dir >>> 0;
    case 'symlink':
      return GoMode.Symlink;
    case 'dev':
      return GoMode.Device;
    case 'chardev':
      return GoMode.Device | GoMode.CharDevice;
    case 'fifo':
      return GoMode.NamedPipe;
    case 'socket':
      return GoMode.Socket;
    case 'irregular':
      return GoMode.Irregular;
    default:
      return 0;
  }
}
