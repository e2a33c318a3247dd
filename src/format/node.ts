/**
 * A tree node as restic stores it. Field names follow restic's JSON; see
 * `tree.ts` for the byte-exact encoding. Names and link targets are raw bytes
 * because file systems allow names that are not valid UTF-8.
 */
import type { ExtraField } from './extra-fields.js';

/** A node's `type` as restic writes it ('irregular' since restic 0.17, for what it cannot back up as such). */
export type NodeType = 'file' | 'dir' | 'symlink' | 'dev' | 'chardev' | 'fifo' | 'socket' | 'irregular';

/** An extended attribute of a file: name and raw value. */
export interface ExtendedAttribute {
  name: string;
  value: Uint8Array;
}

/**
 * One entry of a tree: a file, directory, symlink or special file with its metadata and content (blob IDs) or subtree.
 */
export interface Node {
  /** Raw name bytes (never contains '/'). */
  name: Uint8Array;
  type: NodeType;
  /** Go os.FileMode bits (perm | type bits | setuid/setgid/sticky), see mode.ts. */
  mode?: number;
  /** Times as Go's RFC3339Nano strings (kept as text so zone and nanoseconds survive). */
  mtime: string;
  atime: string;
  ctime: string;
  uid: number;
  gid: number;
  user?: string;
  group?: string;
  /** 64-bit values: kept as bigint so values beyond 2^53 survive. */
  inode?: bigint;
  deviceId?: bigint;
  size?: number;
  links?: number;
  /** Raw link target bytes. */
  linktarget?: Uint8Array;
  extendedAttributes?: ExtendedAttribute[];
  /** restic 0.17+ generic attributes: key → raw JSON text of the value. */
  genericAttributes?: Record<string, string>;
  /** st_rdev for device nodes. */
  device?: bigint;
  /** Data blob IDs (hex) for files, `[]` for empty files, null for everything else. */
  content: string[] | null;
  /** Tree blob ID (hex) for directories. */
  subtree?: string;
  error?: string;
  /** Fields we do not know (a newer restic's), written back where and as they stood. */
  extraFields?: ExtraField[];
}

/** Go os.FileMode bits. */
export const GoMode = {
  Dir: 0x80000000,
  Append: 1 << 30,
  Exclusive: 1 << 29,
  Temporary: 1 << 28,
  Symlink: 1 << 27,
  Device: 1 << 26,
  NamedPipe: 1 << 25,
  Socket: 1 << 24,
  Setuid: 1 << 23,
  Setgid: 1 << 22,
  CharDevice: 1 << 21,
  Sticky: 1 << 20,
  Irregular: 1 << 19,
  Perm: 0o777,
} as const;
