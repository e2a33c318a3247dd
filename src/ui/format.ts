/**
 * Text and JSON renderings of nodes, sizes and times exactly as restic 0.14 prints them
 * (cmd/restic/format.go, cmd_ls.go's lsNodeJSON, cmd_find.go, Go's FileMode.String).
 */
import type { Node, NodeType } from '../format/node.js';
import { formatGoTime, goTimeJson, localOffsetMinutes, parseGoTime } from '../go/time.js';
import { goFixed } from '../go/fmt.js';
import { goJsonString } from '../go/json-string.js';
import { goTypeBitsForNodeType } from '../format/mode.js';
import { type ByteString, bstr, bstrBytes } from '../go/bytestring.js';

/** Go's os.FileMode.String(), e.g. "drwxr-xr-x", "Lrwxrwxrwx", "-rw-r--r--". */
export function fileModeString(mode: number): string {
  const letters = 'dalTLDpSugct?';
  let out = '';
  for (let i = 0; i < letters.length; i++) if ((mode >>> (31 - i)) & 1) out += letters[i];
  if (out === '') out = '-';
  const rwx = 'rwxrwxrwx';
  for (let i = 0; i < 9; i++) out += (mode >>> (8 - i)) & 1 ? rwx[i] : '-';
  return out;
}

/** A node's mode with the type bits restic's formatNode adds for its type. */
function nodeDisplayMode(node: Pick<Node, 'type' | 'mode'>): number {
  return ((node.mode ?? 0) | goTypeBitsForNodeType(node.type as NodeType)) >>> 0;
}

/** restic's TimeFormat ("2006-01-02 15:04:05") of the time in the machine's local zone. */
export function formatLocalTime(t: string): string {
  const g = parseGoTime(t);
  const s = formatGoTime(g.sec, 0, localOffsetMinutes(Number(g.sec) * 1000));
  return s.slice(0, 10) + ' ' + s.slice(11, 19);
}

/**
 * restic's formatNode: the path alone, or with `long` the line
 * `mode uid gid size mtime path[ -> target]` (`%s %5d %5d %6d %s %s%s`).
 */
export function formatNodeLine(path: ByteString, node: Node, long: boolean): ByteString {
  if (!long) return path;
  const target = node.type === 'symlink' ? ' -> ' + bstr(node.linktarget ?? new Uint8Array()) : '';
  return (
    `${fileModeString(nodeDisplayMode(node))} ${String(node.uid).padStart(5)} ${String(node.gid).padStart(5)} ` +
    `${String(node.size ?? 0).padStart(6)} ${formatLocalTime(node.mtime)} ${path}${target}`
  );
}

/** Go JSON for a byte string (invalid UTF-8 becomes \ufffd, <>& are escaped). */
export function jsonBstr(s: ByteString): string {
  return goJsonString(bstrBytes(s));
}

/** The three times of a node as restic's JSON outputs write them (`,"mtime":…,"ctime":…`). */
function nodeTimesJson(node: Node): string {
  return `,"mtime":"${goTimeJson(node.mtime)}","atime":"${goTimeJson(node.atime)}","ctime":"${goTimeJson(node.ctime)}"`;
}

/** `,"uid":…,"gid":…` as unsigned 32-bit numbers (Go's uint32). */
function nodeOwnerJson(node: Node): string {
  return `,"uid":${node.uid >>> 0},"gid":${node.gid >>> 0}`;
}

/** One line of `restic ls --json` for a node (restic 0.14's lsNodeJSON), without the newline. */
export function lsNodeJson(path: ByteString, node: Node): string {
  const mode = (node.mode ?? 0) >>> 0;
  return (
    `{"name":${goJsonString(node.name)},"type":${goJsonString(node.type)},"path":${jsonBstr(path)}` +
    nodeOwnerJson(node) +
    (node.type === 'file' ? `,"size":${node.size ?? 0}` : '') +
    (mode ? `,"mode":${mode}` : '') +
    `,"permissions":${goJsonString(fileModeString(mode))}` +
    nodeTimesJson(node) +
    `,"struct_type":"node"}`
  );
}

/** One match of `restic find --json` (restic 0.14's PrintPatternJSON). */
export function findNodeJson(path: ByteString, node: Node): string {
  const mode = (node.mode ?? 0) >>> 0;
  const opt = (key: string, v: number | bigint | undefined) => (v === undefined || v === 0 || v === 0n ? '' : `,"${key}":${v}`);
  const optStr = (key: string, v: string | Uint8Array | undefined) =>
    v === undefined || v.length === 0 ? '' : `,"${key}":${goJsonString(v)}`;
  return (
    '{' +
    (path === '' ? '' : `"path":${jsonBstr(path)},`) +
    `"permissions":${goJsonString(fileModeString(mode))}` +
    `,"type":${goJsonString(node.type)}` +
    opt('mode', mode) +
    nodeTimesJson(node) +
    nodeOwnerJson(node) +
    optStr('user', node.user) +
    optStr('group', node.group) +
    opt('device_id', node.deviceId) +
    opt('size', node.size) +
    opt('links', node.links) +
    optStr('linktarget', node.linktarget) +
    optStr('error', node.error) +
    '}'
  );
}

/** restic 0.14's formatBytes: "%.3f TiB/GiB/MiB/KiB" above each unit, else "%d B". */
export function resticFormatBytes(c: number): string {
  if (c > 2 ** 40) return `${goFixed(c / 2 ** 40, 3)} TiB`;
  if (c > 2 ** 30) return `${goFixed(c / 2 ** 30, 3)} GiB`;
  if (c > 2 ** 20) return `${goFixed(c / 2 ** 20, 3)} MiB`;
  if (c > 2 ** 10) return `${goFixed(c / 2 ** 10, 3)} KiB`;
  return `${c} B`;
}
