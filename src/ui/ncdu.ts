/**
 * restic ≥ 0.17's `ls --ncdu`: the snapshot in ncdu's JSON export format
 * (https://dev.yorhel.nl/ncdu/jsonfmt, version 1.2), laid out as restic writes it, for
 * `restic-ts ls --ncdu latest | ncdu -f -`.
 */
import type { Node } from '../format/node.js';
import { encodeSnapshot, type Snapshot } from '../format/snapshot.js';
import { goJsonString } from '../go/json-string.js';
import { parseGoTime } from '../go/time.js';

const BLOCK = 512n;
const GO_SETUID = 1 << 23;
const GO_SETGID = 1 << 22;
const GO_STICKY = 1 << 20;

/** One node as ncdu's object (restic's lsNcduOutput). */
function ncduNode(node: Node): string {
  const size = node.type === 'file' ? BigInt(node.size ?? 0) : 0n;
  const goMode = node.mode ?? 0;
  let mode = goMode & 0o777;
  if (goMode & GO_SETUID) mode |= 0o4000;
  if (goMode & GO_SETGID) mode |= 0o2000;
  if (goMode & GO_STICKY) mode |= 0o1000;
  const mtime = parseGoTime(node.mtime).sec;
  return (
    `{"name":${goJsonString(node.name)},"asize":${size},"dsize":${((size + BLOCK - 1n) / BLOCK) * BLOCK}` +
    `,"dev":${node.deviceId ?? 0n},"ino":${node.inode ?? 0n},"nlink":${node.links ?? 0}` +
    `,"notreg":${node.type !== 'dir' && node.type !== 'file'},"uid":${node.uid >>> 0},"gid":${node.gid >>> 0}` +
    `,"mode":${mode & 0xffff},"mtime":${mtime < 0n ? 0n : mtime}}`
  );
}

/** Writes the export as the walk delivers nodes; directories are closed when the walk leaves them. */
export class NcduWriter {
  /** Paths of the open directories, outermost first. */
  private readonly open: string[] = [];

  constructor(private readonly write: (s: string) => Promise<void> | void) {}

  async start(snapshot: Snapshot): Promise<void> {
    await this.write(`[1, 2, ${Buffer.from(encodeSnapshot(snapshot)).toString()}, [{"name":"/"}`);
  }

  /** `path`: the node's path in the snapshot, as the walker gives it. */
  async node(path: string, node: Node): Promise<void> {
    await this.closeUntil(path);
    const indent = '  '.repeat(this.open.length + 1);
    if (node.type === 'dir') {
      await this.write(`,\n${indent}[\n${indent}  ${ncduNode(node)}`);
      this.open.push(path);
    } else await this.write(`,\n${indent}${ncduNode(node)}`);
  }

  async finish(): Promise<void> {
    await this.closeUntil('');
    await this.write('\n]\n]\n');
  }

  private async closeUntil(path: string): Promise<void> {
    while (this.open.length && !path.startsWith(this.open[this.open.length - 1]! + '/')) {
      this.open.pop();
      await this.write(`\n${'  '.repeat(this.open.length + 1)}]`);
    }
  }
}
