/**
 * Text and JSON renderings of nodes, snapshots and times exactly as restic 0.14 prints
 * them (cmd/restic/format.go, cmd_ls.go's lsNodeJSON, cmd_find.go, Go's FileMode.String,
 * time.Time.String and json.MarshalIndent).
 */
import type { Node, NodeType } from '../format/node.js';
import type { Snapshot } from '../format/snapshot.js';
import { encodeSnapshot } from '../format/snapshot.js';
import { formatGoTime, goJsonString, localOffsetMinutes, parseGoTime } from '../go/json.js';
import { goTypeBitsForNodeType } from '../format/mode.js';
import { type ByteString, bstrBytes } from '../go/bytestring.js';

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
export function nodeDisplayMode(node: Pick<Node, 'type' | 'mode'>): number {
  return ((node.mode ?? 0) | goTypeBitsForNodeType(node.type as NodeType)) >>> 0;
}

/** A stored time as Go re-marshals it after parsing (RFC3339Nano, trailing zeros trimmed, Z for UTC). */
export function goTimeJson(t: string): string {
  const g = parseGoTime(t);
  return formatGoTime(g.sec, g.nsec, g.offsetMinutes);
}

/** restic's TimeFormat ("2006-01-02 15:04:05") of the time in the machine's local zone. */
export function formatLocalTime(t: string): string {
  const g = parseGoTime(t);
  const s = formatGoTime(g.sec, 0, localOffsetMinutes(Number(g.sec) * 1000));
  return s.slice(0, 10) + ' ' + s.slice(11, 19);
}

/** Short zone name of this machine's zone at an instant, when Intl knows one. */
function localZoneName(epochMs: number): string | undefined {
  try {
    const parts = new Intl.DateTimeFormat('en-US', { timeZoneName: 'short' }).formatToParts(new Date(epochMs));
    const name = parts.find((p) => p.type === 'timeZoneName')?.value;
    if (name && /^[A-Z]{2,5}$/.test(name)) return name;
  } catch {
    // no Intl zone data
  }
  return undefined;
}

/**
 * Go's time.Time.String() for a parsed time: "2006-01-02 15:04:05.999999999 -0700 MST".
 * A time whose offset is the local zone's is shown with the local zone's name (as Go's
 * time.Parse attaches time.Local then); other offsets have no name and repeat the offset.
 */
export function goTimeString(t: string): string {
  const g = parseGoTime(t);
  const s = formatGoTime(g.sec, g.nsec, g.offsetMinutes);
  const m = /^(\d{4}-\d{2}-\d{2})T(\d{2}:\d{2}:\d{2}(?:\.\d+)?)/.exec(s)!;
  const off = Math.round(g.offsetMinutes);
  const abs = Math.abs(off);
  const num = (off < 0 ? '-' : '+') + String(Math.floor(abs / 60)).padStart(2, '0') + String(abs % 60).padStart(2, '0');
  const ms = Number(g.sec) * 1000;
  let name: string = num;
  if (localOffsetMinutes(ms) === g.offsetMinutes) name = localZoneName(ms) ?? (off === 0 ? 'UTC' : num);
  else if (off === 0 && /Z$/.test(t)) name = 'UTC';
  return `${m[1]} ${m[2]} ${num} ${name}`;
}

/**
 * restic's formatNode: the path alone, or with `long` the line
 * `mode uid gid size mtime path[ -> target]` (`%s %5d %5d %6d %s %s%s`).
 */
export function formatNodeLine(path: ByteString, node: Node, long: boolean): ByteString {
  if (!long) return path;
  const target = node.type === 'symlink' ? ' -> ' + Buffer.from(node.linktarget ?? new Uint8Array()).toString('latin1') : '';
  return (
    `${fileModeString(nodeDisplayMode(node))} ${String(node.uid).padStart(5)} ${String(node.gid).padStart(5)} ` +
    `${String(node.size ?? 0).padStart(6)} ${formatLocalTime(node.mtime)} ${path}${target}`
  );
}

/** Go JSON for a byte string (invalid UTF-8 becomes \ufffd, <>& are escaped). */
export function jsonBstr(s: ByteString): string {
  return goJsonString(bstrBytes(s));
}

/** One line of `restic ls --json` for a node (restic 0.14's lsNodeJSON), without the newline. */
export function lsNodeJson(path: ByteString, node: Node): string {
  const mode = (node.mode ?? 0) >>> 0;
  return (
    `{"name":${goJsonString(node.name)},"type":${goJsonString(node.type)},"path":${jsonBstr(path)}` +
    `,"uid":${node.uid >>> 0},"gid":${node.gid >>> 0}` +
    (node.type === 'file' ? `,"size":${node.size ?? 0}` : '') +
    (mode ? `,"mode":${mode}` : '') +
    `,"permissions":${goJsonString(fileModeString(mode))}` +
    `,"mtime":"${goTimeJson(node.mtime)}","atime":"${goTimeJson(node.atime)}","ctime":"${goTimeJson(node.ctime)}"` +
    `,"struct_type":"node"}`
  );
}

/** One match of `restic find --json` (restic 0.14's PrintPatternJSON). */
export function findNodeJson(path: ByteString, node: Node): string {
  const mode = (node.mode ?? 0) >>> 0;
  const opt = (key: string, v: number | bigint | undefined) => (v === undefined || v === 0 || v === 0n ? '' : `,"${key}":${v}`);
  const optStr = (key: string, v: string | Uint8Array | undefined) => (v === undefined || v.length === 0 ? '' : `,"${key}":${goJsonString(v)}`);
  return (
    '{' +
    (path === '' ? '' : `"path":${jsonBstr(path)},`) +
    `"permissions":${goJsonString(fileModeString(mode))}` +
    `,"type":${goJsonString(node.type)}` +
    opt('mode', mode) +
    `,"mtime":"${goTimeJson(node.mtime)}","atime":"${goTimeJson(node.atime)}","ctime":"${goTimeJson(node.ctime)}"` +
    `,"uid":${node.uid >>> 0},"gid":${node.gid >>> 0}` +
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

/**
 * A snapshot as restic 0.14 marshals its Snapshot struct (compact): the time re-encoded,
 * fields restic 0.14 does not know (program_version, summary) left out.
 */
export function snapshotJson014(s: Snapshot): string {
  const body = Buffer.from(encodeSnapshot({ ...s, time: goTimeJson(s.time), programVersion: undefined, summary: undefined })).toString('utf8');
  return body;
}

/** The `ls --json` / `snapshots --json` form: the snapshot followed by id and short_id (and extra fields). */
export function snapshotJsonWithId(s: Snapshot, id: string, extra = ''): string {
  return `${snapshotJson014(s).slice(0, -1)},"id":"${id}","short_id":"${id.slice(0, 8)}"${extra}}`;
}

/** Go's json.Indent with prefix "" (what json.MarshalIndent produces from compact JSON). */
export function goIndentJson(compact: string, indent = '  '): string {
  let out = '';
  let depth = 0;
  let needIndent = false;
  const newline = () => '\n' + indent.repeat(depth);
  for (let i = 0; i < compact.length; i++) {
    const c = compact[i]!;
    if (c === ' ' || c === '\t' || c === '\n' || c === '\r') continue;
    if (needIndent && c !== '}' && c !== ']') {
      needIndent = false;
      depth++;
      out += newline();
    }
    if (c === '"') {
      let j = i + 1;
      while (j < compact.length && compact[j] !== '"') j += compact[j] === '\\' ? 2 : 1;
      out += compact.slice(i, j + 1);
      i = j;
      continue;
    }
    switch (c) {
      case '{':
      case '[':
        needIndent = true;
        out += c;
        break;
      case ',':
        out += c + newline();
        break;
      case ':':
        out += ': ';
        break;
      case '}':
      case ']':
        if (needIndent) needIndent = false;
        else {
          depth--;
          out += newline();
        }
        out += c;
        break;
      default:
        out += c;
    }
  }
  return out;
}

/**
 * Go's fmt "%.<prec>f": correctly rounded like toFixed, except that an exact tie rounds to
 * the even digit (toFixed rounds it away from zero), e.g. 2.3125 → "2.312".
 */
export function goFixed(x: number, prec: number): string {
  const exact = x.toFixed(100); // every double's decimal expansion fits in 100 digits here
  const dot = exact.indexOf('.');
  const rest = exact.slice(dot + 1 + prec);
  if (!/^50*$/.test(rest)) return x.toFixed(prec);
  const kept = exact.slice(0, dot + 1 + prec).replace(/\.$/, '');
  const last = Number(kept[kept.length - 1]);
  return last % 2 === 0 ? kept : x.toFixed(prec);
}

/** restic 0.14's formatBytes: "%.3f TiB/GiB/MiB/KiB" above each unit, else "%d B". */
export function resticFormatBytes(c: number): string {
  if (c > 2 ** 40) return `${goFixed(c / 2 ** 40, 3)} TiB`;
  if (c > 2 ** 30) return `${goFixed(c / 2 ** 30, 3)} GiB`;
  if (c > 2 ** 20) return `${goFixed(c / 2 ** 20, 3)} MiB`;
  if (c > 2 ** 10) return `${goFixed(c / 2 ** 10, 3)} KiB`;
  return `${c} B`;
}
