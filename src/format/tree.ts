/**
 * Tree blob codec, byte-identical to restic 0.14.0's TreeJSONBuilder + Node.MarshalJSON
 * (§8): `{"nodes":[` node,node… `]}` + "\n". The tree ID is the SHA-256 of these bytes,
 * so field order, omitempty and string escaping follow Go exactly.
 */
import { FormatError } from '../errors.js';
import { bstr } from '../go/bytestring.js';
import { goJsonString } from '../go/json-string.js';
import { goQuote, goUnquote } from '../go/quote.js';
import { isValidUtf8 } from '../go/utf8.js';
import { parseJson } from '../go/json-parse.js';
import { isId } from './id.js';
import type { ExtendedAttribute, Node, NodeType } from './node.js';
import { type ExtraField, withExtraMembers } from './extra-fields.js';

const TREE_HEAD = '{"nodes":[';
const TREE_TAIL = ']}\n';

/**
 * Go's string `<` on raw name bytes (what restic sorts and checks by): -1, 0 or 1. A JS
 * loop: names are short, and a native Buffer.compare call is not free.
 */
export function compareNames(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const d = a[i]! - b[i]!;
    if (d !== 0) return d < 0 ? -1 : 1;
  }
  return a.length === b.length ? 0 : a.length < b.length ? -1 : 1;
}

/** Sorts nodes in place by raw name bytes and returns the same array. */
export function sortNodes<T extends Pick<Node, 'name'>>(nodes: T[]): T[] {
  // One latin1 string per name (a char per byte): JS string order is then byte order.
  const keyed = nodes.map((node) => ({ key: bstr(node.name), node }));
  keyed.sort((x, y) => (x.key < y.key ? -1 : x.key > y.key ? 1 : 0));
  for (let i = 0; i < keyed.length; i++) nodes[i] = keyed[i]!.node;
  return nodes;
}

/**
 * JSON text of decoded names ('' until first encoded): the archiver reuses a parent tree's
 * name array for an entry that is still there, so that name is quoted once per run.
 */
const decodedNameJson = new WeakMap<Uint8Array, string>();

function encodeName(name: Uint8Array): string {
  const cached = decodedNameJson.get(name);
  if (cached) return cached;
  const s = goJsonString(goQuote(name));
  if (cached === '') decodedNameJson.set(name, s);
  return s;
}

function checkId(id: string, what: string): string {
  if (!isId(id)) throw new FormatError(`${what}: invalid ID ${JSON.stringify(id)}`);
  return id;
}

function uint(v: number | bigint | undefined): string {
  return v === undefined ? '' : String(v);
}

/** A non-zero integer field (`omitempty`), or ''. */
function optUint(key: string, v: number | bigint | undefined): string {
  return v === undefined || v === 0 || v === 0n ? '' : `,"${key}":${uint(v)}`;
}

function optString(key: string, v: string | undefined): string {
  return v === undefined || v === '' ? '' : `,"${key}":${goJsonString(v)}`;
}

function encodeXattrs(list: ExtendedAttribute[] | undefined): string {
  if (list === undefined || list.length === 0) return '';
  const items = list.map(
    (a) =>
      `{"name":${goJsonString(a.name)},"value":"${Buffer.from(a.value.buffer, a.value.byteOffset, a.value.byteLength).toString('base64')}"}`,
  );
  return `,"extended_attributes":[${items.join(',')}]`;
}

function encodeGenericAttributes(attrs: Record<string, string> | undefined): string {
  if (attrs === undefined) return '';
  const keys = Object.keys(attrs);
  if (keys.length === 0) return '';
  // Go sorts map keys as byte strings.
  keys.sort((a, b) => Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8')));
  const items = keys.map((k) => `${goJsonString(k)}:${compactRawJson(attrs[k]!, k)}`);
  return `,"generic_attributes":{${items.join(',')}}`;
}

/**
 * What encoding/json does to a json.RawMessage: drop insignificant whitespace and
 * HTML-escape < > & and U+2028/2029 inside strings. Invalid JSON is an error, as in Go.
 */
export function compactRawJson(raw: string, what = 'raw JSON'): string {
  try {
    JSON.parse(raw);
  } catch {
    throw new FormatError(`${what}: invalid JSON value ${JSON.stringify(raw)}`);
  }
  let out = '';
  let inString = false;
  for (let i = 0; i < raw.length; i++) {
    const c = raw[i]!;
    if (inString) {
      if (c === '\\') {
        out += c + raw[++i]!;
        continue;
      }
      if (c === '"') inString = false;
      out +=
        c === '<' ? '\\u003c' : c === '>' ? '\\u003e' : c === '&' ? '\\u0026' : c === '\u2028' ? '\\u2028' : c === '\u2029' ? '\\u2029' : c;
    } else if (c !== ' ' && c !== '\t' && c !== '\n' && c !== '\r') {
      if (c === '"') inString = true;
      out += c;
    }
  }
  return out;
}

function encodeLinkTarget(target: Uint8Array | undefined): string {
  if (target === undefined || target.length === 0) return '';
  let s = `,"linktarget":${goJsonString(target)}`;
  // restic 0.16+ keeps the exact bytes when the (lossy) string cannot; 0.14 ignores it.
  if (!isValidUtf8(target)) {
    s += `,"linktarget_raw":"${Buffer.from(target.buffer, target.byteOffset, target.byteLength).toString('base64')}"`;
  }
  return s;
}

/**
 * Content lists decodeContent checked and froze: an unchanged file's node reuses its
 * parent's list, which then needs no second check when the tree is encoded again.
 */
const checkedContent = new WeakSet<readonly string[]>();

function encodeContent(content: string[] | null): string {
  if (content === null) return ',"content":null';
  if (!checkedContent.has(content)) for (const id of content) checkId(id, 'content');
  return content.length === 0 ? ',"content":[]' : `,"content":["${content.join('","')}"]`;
}

/** restic's Node struct fields in order (0.17+), for placing unknown fields back. */
const NODE_KEYS = [
  'name',
  'type',
  'mode',
  'mtime',
  'atime',
  'ctime',
  'uid',
  'gid',
  'user',
  'group',
  'inode',
  'device_id',
  'size',
  'links',
  'linktarget',
  'linktarget_raw',
  'extended_attributes',
  'generic_attributes',
  'device',
  'content',
  'subtree',
  'error',
] as const;
const NODE_KEY_SET: ReadonlySet<string> = new Set(NODE_KEYS);

/** One node exactly as restic's json.Marshal(node) writes it, unknown fields kept in place. */
export function encodeNode(n: Node): string {
  return n.extraFields ? withExtraMembers(encodeKnownNode(n), NODE_KEYS, n.extraFields) : encodeKnownNode(n);
}

function encodeKnownNode(n: Node): string {
  return (
    `{"name":${encodeName(n.name)}` +
    `,"type":${goJsonString(n.type)}` +
    optUint('mode', n.mode === undefined ? undefined : n.mode >>> 0) +
    `,"mtime":${goJsonString(n.mtime)},"atime":${goJsonString(n.atime)},"ctime":${goJsonString(n.ctime)}` +
    `,"uid":${n.uid >>> 0},"gid":${n.gid >>> 0}` +
    optString('user', n.user) +
    optString('group', n.group) +
    optUint('inode', n.inode) +
    optUint('device_id', n.deviceId) +
    optUint('size', n.size) +
    optUint('links', n.links) +
    encodeLinkTarget(n.linktarget) +
    encodeXattrs(n.extendedAttributes) +
    encodeGenericAttributes(n.genericAttributes) +
    optUint('device', n.device) +
    encodeContent(n.content) +
    (n.subtree === undefined ? '' : `,"subtree":"${checkId(n.subtree, 'subtree')}"`) +
    optString('error', n.error) +
    '}'
  );
}

/**
 * The tree blob bytes for `nodes`, which must be strictly increasing by raw name bytes
 * (use sortNodes first); duplicate or empty names are rejected like TreeJSONBuilder does.
 */
export function encodeTree(nodes: readonly Node[]): Uint8Array {
  // Each node's text is written out at once: keeping thousands of concatenated strings
  // alive until a final join costs ~3x more in GC than the encoding itself.
  let out: Buffer = Buffer.allocUnsafeSlow(4096);
  let o = out.write(TREE_HEAD, 0, 'latin1');
  let last: Uint8Array = new Uint8Array(0);
  for (let i = 0; i < nodes.length; i++) {
    const n = nodes[i]!;
    if (compareNames(n.name, last) <= 0) {
      throw new FormatError(`nodes are not ordered: got ${JSON.stringify(goQuote(n.name))}, last ${JSON.stringify(goQuote(last))}`);
    }
    last = n.name;
    const s = encodeNode(n);
    const need = o + 1 + s.length * 3 + TREE_TAIL.length;
    if (need > out.length) out = grow(out, o, need);
    if (i > 0) out[o++] = 0x2c;
    o += out.write(s, o, 'utf8');
  }
  if (o + TREE_TAIL.length > out.length) out = grow(out, o, o + TREE_TAIL.length);
  o += out.write(TREE_TAIL, o, 'latin1');
  return new Uint8Array(out.buffer, out.byteOffset, o);
}

function grow(buf: Buffer, used: number, need: number): Buffer {
  const next = Buffer.allocUnsafeSlow(Math.max(need, buf.length * 2));
  buf.copy(next, 0, 0, used);
  return next;
}

// ---------------------------------------------------------------------------------------
// Decoding
// ---------------------------------------------------------------------------------------

const NODE_TYPES: ReadonlySet<string> = new Set<NodeType>(['file', 'dir', 'symlink', 'dev', 'chardev', 'fifo', 'socket', 'irregular']);
/** Go's zero time.Time, what restic reads for a missing or null time. */
const GO_ZERO_TIME = '0001-01-01T00:00:00Z';
const TIME_RE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:[.,]\d+)?(?:Z|[+-]\d{2}:\d{2})$/;
const BASE64_RE = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

type JsonObject = Record<string, unknown>;

class NodeReader {
  constructor(
    private readonly o: JsonObject,
    private readonly where: string,
  ) {}

  fail(field: string, why: string): never {
    throw new FormatError(`invalid tree: ${this.where} field "${field}" ${why}`);
  }

  has(field: string): boolean {
    return this.o[field] !== undefined && this.o[field] !== null;
  }

  string(field: string): string | undefined {
    const v = this.o[field];
    if (v === undefined || v === null) return undefined;
    if (typeof v !== 'string') this.fail(field, 'is not a string');
    return v;
  }

  time(field: string): string {
    const v = this.string(field);
    if (v === undefined) return GO_ZERO_TIME;
    if (!TIME_RE.test(v)) this.fail(field, `is not an RFC3339 time: ${JSON.stringify(v)}`);
    return v;
  }

  private integer(field: string, max: bigint): number | bigint | undefined {
    const v = this.o[field];
    if (v === undefined || v === null) return undefined;
    if (typeof v === 'bigint') {
      if (v < 0n || v > max) this.fail(field, 'is out of range');
      return v;
    }
    if (typeof v === 'number') checkSafe(v);
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > Number(max)) this.fail(field, 'is not an unsigned integer in range');
    return v;
  }

  uint32(field: string): number | undefined {
    const v = this.integer(field, 0xffffffffn);
    return v === undefined ? undefined : Number(v);
  }

  /** uint64 as number: exact below 2^53 (Node keeps size/links as numbers). */
  uint64Number(field: string): number | undefined {
    const v = this.integer(field, 0xffffffffffffffffn);
    return v === undefined ? undefined : Number(v);
  }

  uint64(field: string): bigint | undefined {
    const v = this.integer(field, 0xffffffffffffffffn);
    return v === undefined ? undefined : BigInt(v);
  }

  bytes(field: string): Uint8Array | undefined {
    return this.has(field) ? base64(this.string(field)!, () => this.fail(field, 'is not valid base64')) : undefined;
  }

  id(field: string): string | undefined {
    const v = this.string(field);
    if (v !== undefined && !isId(v)) this.fail(field, `is not a blob ID: ${JSON.stringify(v)}`);
    return v;
  }

  array(field: string): unknown[] | null {
    const v = this.o[field];
    if (v === undefined || v === null) return null;
    if (!Array.isArray(v)) this.fail(field, 'is not an array');
    return v;
  }

  object(field: string): JsonObject | undefined {
    const v = this.o[field];
    if (v === undefined || v === null) return undefined;
    if (typeof v !== 'object' || Array.isArray(v)) this.fail(field, 'is not an object');
    return v as JsonObject;
  }
}

function base64(s: string, onError: () => never): Uint8Array {
  if (!BASE64_RE.test(s)) onError();
  const b = Buffer.from(s, 'base64');
  return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
}

function isObject(v: unknown): v is JsonObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function decodeName(r: NodeReader): Uint8Array {
  const quoted = r.string('name');
  if (quoted === undefined) r.fail('name', 'is missing');
  try {
    const name = goUnquote(quoted);
    decodedNameJson.set(name, '');
    return name;
  } catch (err) {
    return r.fail('name', (err as Error).message);
  }
}

function decodeType(r: NodeReader): NodeType {
  const t = r.string('type');
  if (t === undefined || !NODE_TYPES.has(t)) r.fail('type', `is not a known node type: ${JSON.stringify(t)}`);
  return t as NodeType;
}

function decodeLinkTarget(r: NodeReader): Uint8Array | undefined {
  const raw = r.bytes('linktarget_raw');
  if (raw !== undefined) return raw;
  const s = r.string('linktarget');
  return s === undefined ? undefined : new Uint8Array(Buffer.from(s, 'utf8'));
}

function decodeXattrs(r: NodeReader): ExtendedAttribute[] | undefined {
  const list = r.array('extended_attributes');
  if (list === null) return undefined;
  return list.map((item, i) => {
    if (!isObject(item)) return r.fail('extended_attributes', `entry ${i} is not an object`);
    const x = new NodeReader(item, `extended attribute ${i}`);
    return { name: x.string('name') ?? '', value: x.bytes('value') ?? new Uint8Array(0) };
  });
}

function decodeGenericAttributes(r: NodeReader): Record<string, string> | undefined {
  const o = r.object('generic_attributes');
  if (o === undefined) return undefined;
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(o)) out[k] = marshalGoJson(v);
  return out;
}

/** Go's json.Marshal of a parsed generic JSON value (keys kept in source order). */
function marshalGoJson(v: unknown): string {
  if (v === null) return 'null';
  if (typeof v === 'string') return goJsonString(v);
  if (typeof v === 'number') checkSafe(v);
  if (typeof v === 'number' || typeof v === 'bigint' || typeof v === 'boolean') return String(v);
  if (Array.isArray(v)) return `[${v.map(marshalGoJson).join(',')}]`;
  const o = v as JsonObject;
  return `{${Object.keys(o)
    .map((k) => `${goJsonString(k)}:${marshalGoJson(o[k])}`)
    .join(',')}}`;
}

function decodeContent(r: NodeReader): string[] | null {
  const list = r.array('content');
  if (list === null) return null;
  const ids = list.map((id, i) => {
    if (!isId(id)) r.fail('content', `entry ${i} is not a blob ID`);
    return id;
  });
  checkedContent.add(Object.freeze(ids));
  return ids;
}

function setIf<K extends keyof Node>(n: Node, key: K, v: Node[K] | undefined): void {
  if (v !== undefined) n[key] = v;
}

/** One node from its parsed JSON object (restic's Node.UnmarshalJSON). */
function decodeNode(o: unknown, index = 0): Node {
  if (!isObject(o)) throw new FormatError(`invalid tree: node ${index} is not an object`);
  const r = new NodeReader(o, `node ${index}`);
  const n: Node = {
    name: decodeName(r),
    type: decodeType(r),
    mtime: r.time('mtime'),
    atime: r.time('atime'),
    ctime: r.time('ctime'),
    uid: r.uint32('uid') ?? 0,
    gid: r.uint32('gid') ?? 0,
    content: decodeContent(r),
  };
  setIf(n, 'mode', r.uint32('mode'));
  setIf(n, 'user', r.string('user'));
  setIf(n, 'group', r.string('group'));
  setIf(n, 'inode', r.uint64('inode'));
  setIf(n, 'deviceId', r.uint64('device_id'));
  setIf(n, 'size', r.uint64Number('size'));
  setIf(n, 'links', r.uint64Number('links'));
  setIf(n, 'linktarget', decodeLinkTarget(r));
  setIf(n, 'extendedAttributes', decodeXattrs(r));
  setIf(n, 'genericAttributes', decodeGenericAttributes(r));
  setIf(n, 'device', r.uint64('device'));
  setIf(n, 'subtree', r.id('subtree'));
  setIf(n, 'error', r.string('error'));
  setIf(n, 'extraFields', extraNodeFields(o));
  return n;
}

/** Members restic does not know, in source order, with the known key each followed. */
function extraNodeFields(o: JsonObject): ExtraField[] | undefined {
  let out: ExtraField[] | undefined;
  let after = '';
  for (const k in o) {
    if (NODE_KEY_SET.has(k)) after = k;
    else (out ??= []).push({ key: k, json: marshalGoJson(o[k]), after });
  }
  return out;
}

/** Thrown by the decoders when a number lost precision in JSON.parse: parse again with bigints. */
const NEEDS_BIGINT = Symbol('needs bigint');

function checkSafe(v: number): void {
  if (Number.isInteger(v) && !Number.isSafeInteger(v) && nativeParse) throw NEEDS_BIGINT;
}

/** Set while decoding a JSON.parse result (numbers beyond 2^53 may have been rounded). */
let nativeParse = false;

const utf8 = new TextDecoder('utf-8');

/** Nodes of a tree blob (unknown fields ignored, `"nodes": null` = empty). */
export function decodeTree(bytes: Uint8Array): Node[] {
  // JSON.parse first: a 64-bit number that needs a bigint is noticed where it is read,
  // which is cheaper than scanning every tree for long numbers up front.
  const text = utf8.decode(bytes);
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    return decodeTreeDoc(parseJson(text)); // parseJson reports the error
  }
  nativeParse = true;
  try {
    return decodeTreeDoc(doc);
  } catch (err) {
    if (err !== NEEDS_BIGINT) throw err;
  } finally {
    nativeParse = false;
  }
  return decodeTreeDoc(parseJson(text));
}

function decodeTreeDoc(doc: unknown): Node[] {
  if (!isObject(doc)) throw new FormatError('invalid tree: not a JSON object');
  const nodes = doc['nodes'];
  if (nodes === undefined || nodes === null) return [];
  if (!Array.isArray(nodes)) throw new FormatError('invalid tree: "nodes" is not an array');
  return nodes.map(decodeNode);
}

/** Bytes of node JSON decoded per batch by decodeTreeBatches: a few ms of work each. */
const BATCH_BYTES = 256 * 1024;
/** Bytes scanned for node boundaries between two (empty) batches. */
const SCAN_BYTES = 4 * 1024 * 1024;
const TREE_HEAD_RE = /^[ \t\r\n]*\{[ \t\r\n]*"nodes"[ \t\r\n]*:[ \t\r\n]*\[/;

/**
 * decodeTree in batches, for trees too big to decode in one go without holding up the event
 * loop (a million entries take seconds): a caller may pause between batches. Scans for the
 * boundaries of restic's `{"nodes":[…]}` first (yielding empty batches while it scans); a tree
 * of any other shape, or a malformed one, is left to decodeTree whole (same result, same errors).
 */
export function* decodeTreeBatches(bytes: Uint8Array): Generator<Node[]> {
  const head = TREE_HEAD_RE.exec(Buffer.from(bytes.buffer, bytes.byteOffset, Math.min(bytes.length, 64)).toString('latin1'));
  const cuts: number[] = [];
  const end = head ? yield* scanNodeArray(bytes, head[0].length, cuts) : -1;
  if (end < 0 || !/^[ \t\r\n]*\}[ \t\r\n]*$/.test(utf8.decode(bytes.subarray(end + 1)))) return yield decodeTree(bytes);
  let index = 0;
  for (let i = 0; i + 1 < cuts.length; i++) {
    const nodes = decodeBatch(bytes.subarray(cuts[i], cuts[i + 1]! - 1), index);
    if (!nodes) return yield decodeTree(bytes); // throws: the tree is malformed
    index += nodes.length;
    yield nodes;
  }
}

/**
 * Positions after which batches of whole nodes start (`cuts`, each just past a top-level comma,
 * the last one just past the array's end); returns the index of the closing `]`, or -1.
 */
function* scanNodeArray(b: Uint8Array, from: number, cuts: number[]): Generator<Node[], number> {
  let depth = 0;
  let inString = false;
  cuts.push(from);
  for (let i = from, pause = from + SCAN_BYTES; i < b.length; i++) {
    if (i >= pause) {
      yield [];
      pause = i + SCAN_BYTES;
    }
    const c = b[i]!;
    if (inString) {
      if (c === 0x5c) i++;
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x7b || c === 0x5b) depth++;
    else if (c === 0x7d || c === 0x5d) {
      if (depth-- > 0) continue;
      if (c !== 0x5d) return -1;
      const blank = !/[^ \t\r\n]/.test(utf8.decode(b.subarray(cuts[cuts.length - 1], i)));
      // `[]` has no batch; a blank last one after a comma is malformed (decodeTree says how)
      if (blank) return cuts.length > 1 ? -1 : i;
      cuts.push(i + 1);
      return i;
    } else if (c === 0x2c && depth === 0 && i + 1 - cuts[cuts.length - 1]! >= BATCH_BYTES) cuts.push(i + 1);
  }
  return -1;
}

/** The nodes in `json` (`node,node,…`), numbered from `index`; null when it is not valid JSON. */
function decodeBatch(json: Uint8Array, index: number): Node[] | null {
  const text = '[' + utf8.decode(json) + ']';
  let list: unknown;
  try {
    list = JSON.parse(text);
  } catch {
    return null;
  }
  nativeParse = true;
  try {
    return (list as unknown[]).map((o, i) => decodeNode(o, index + i));
  } catch (err) {
    if (err !== NEEDS_BIGINT) throw err;
  } finally {
    nativeParse = false;
  }
  return (parseJson(text) as unknown[]).map((o, i) => decodeNode(o, index + i));
}
