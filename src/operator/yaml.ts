/**
 * Just enough YAML for Kubernetes manifests and Che's backup-info.yaml, without a dependency.
 *
 * Emitter: block mappings and sequences; strings are plain when that reads back as the same
 * string, otherwise double-quoted with JSON escapes (a subset of YAML's double-quoted escapes).
 *
 * Parser: the subset `kubectl get -o yaml` and hand-written manifests use — block mappings and
 * sequences (also `- key: value` items), plain / single- / double-quoted scalars, literal and
 * folded block scalars (`|`, `|-`, `|+`, `>`, `>-`), one-line flow collections (`[a, b]`,
 * `{a: b}`), comments and a leading `---`. Anchors, tags, multi-document streams and multi-line
 * flow collections are refused with a YamlError naming the line, never guessed at.
 */
import { FormatError } from '../errors.js';

export class YamlError extends FormatError {}

export type YamlValue = null | boolean | number | string | YamlValue[] | { [key: string]: YamlValue };

// ---------------------------------------------------------------- emitter

const RESERVED_PLAIN = /^(?:~|null|Null|NULL|true|True|TRUE|false|False|FALSE|yes|Yes|YES|no|No|NO|on|On|ON|off|Off|OFF|y|Y|n|N)$/;
const NUMBER_LIKE =
  /^[-+]?(?:\.?[0-9][0-9_]*(?:\.[0-9_]*)?(?:[eE][-+]?[0-9]+)?|0x[0-9a-fA-F_]+|0o[0-7_]+|\.inf|\.Inf|\.INF|\.nan|\.NaN|\.NAN)$/;

/** A string that may be written without quotes and reads back as the same string. */
function isPlainSafe(s: string): boolean {
  if (s === '' || s.trim() !== s) return false;
  if (RESERVED_PLAIN.test(s) || NUMBER_LIKE.test(s)) return false;
  if (/^[-?:,[\]{}#&*!|>'"%@`]/.test(s)) return false;
  if (/[\x00-\x1f\x7f\u0085\u2028\u2029\ufeff]/.test(s)) return false;
  if (s.includes(': ') || s.includes(' #') || s.endsWith(':')) return false;
  return true;
}

function scalar(v: null | boolean | number | string): string {
  if (v === null) return 'null';
  if (typeof v === 'boolean') return v ? 'true' : 'false';
  if (typeof v === 'number') {
    if (Number.isNaN(v)) return '.nan';
    if (!Number.isFinite(v)) return v > 0 ? '.inf' : '-.inf';
    return String(v);
  }
  return isPlainSafe(v) ? v : JSON.stringify(v);
}

function isCollection(v: unknown): v is YamlValue[] | Record<string, YamlValue> {
  return typeof v === 'object' && v !== null;
}

function isEmpty(v: YamlValue[] | Record<string, YamlValue>): boolean {
  return Array.isArray(v) ? v.length === 0 : Object.keys(v).length === 0;
}

function checkValue(v: unknown, where: string): asserts v is YamlValue {
  if (v === null || typeof v === 'boolean' || typeof v === 'number' || typeof v === 'string') return;
  if (
    Array.isArray(v) ||
    (typeof v === 'object' && Object.getPrototypeOf(v) === Object.prototype) ||
    (typeof v === 'object' && Object.getPrototypeOf(v) === null)
  )
    return;
  throw new YamlError(
    `cannot write ${where} as YAML: unsupported value of type ${v === undefined ? 'undefined' : typeof v === 'object' ? (v.constructor?.name ?? 'object') : typeof v}`,
  );
}

function emitLines(v: YamlValue, indent: string, out: string[], where: string): void {
  if (Array.isArray(v)) {
    v.forEach((item, i) => {
      checkValue(item, `${where}[${i}]`);
      if (isCollection(item) && !isEmpty(item)) {
        const sub: string[] = [];
        emitLines(item, '', sub, `${where}[${i}]`);
        // "- " then the first line; the rest indented under it.
        out.push(`${indent}- ${sub[0]}`);
        for (const l of sub.slice(1)) out.push(`${indent}  ${l}`);
      } else out.push(`${indent}- ${inline(item)}`);
    });
    return;
  }
  for (const [k, item] of Object.entries(v as Record<string, YamlValue>)) {
    if (item === undefined) continue; // as JSON.stringify does: absent keys
    checkValue(item, `${where}.${k}`);
    const key = scalar(k);
    if (isCollection(item) && !isEmpty(item)) {
      out.push(`${indent}${key}:`);
      // Sequences under a mapping key are written at the key's indentation (kubectl style).
      emitLines(item, Array.isArray(item) ? indent : indent + '  ', out, `${where}.${k}`);
    } else out.push(`${indent}${key}: ${inline(item)}`);
  }
}

function inline(v: YamlValue): string {
  if (Array.isArray(v)) return '[]';
  if (isCollection(v)) return '{}';
  return scalar(v);
}

/** YAML text for a JSON-like value (a mapping at the top for manifests). */
export function toYaml(value: unknown, what = 'value'): string {
  checkValue(value, what);
  if (!isCollection(value) || isEmpty(value)) return inline(value) + '\n';
  const out: string[] = [];
  emitLines(value, '', out, what);
  return out.join('\n') + '\n';
}

// ---------------------------------------------------------------- parser

interface Line {
  no: number;
  indent: number;
  /** Text after the indentation, comments not yet stripped (they may be inside quotes). */
  text: string;
}

class Parser {
  private pos = 0;

  constructor(
    private readonly lines: Line[],
    private readonly raw: string[],
    private readonly what: string,
  ) {}

  fail(no: number, msg: string): never {
    throw new YamlError(`${this.what}: line ${no}: ${msg}`);
  }

  private peek(): Line | undefined {
    return this.lines[this.pos];
  }

  parseDocument(): YamlValue {
    const first = this.peek();
    if (!first) return null;
    const v = this.parseNode(first.indent);
    const rest = this.peek();
    if (rest) this.fail(rest.no, `unexpected content (indentation ${rest.indent})`);
    return v;
  }

  /** A block node whose lines start at exactly `indent`. */
  private parseNode(indent: number): YamlValue {
    const line = this.peek()!;
    if (line.text === '-' || line.text.startsWith('- ')) return this.parseSequence(indent);
    if (findMappingColon(line.text) >= 0) return this.parseMapping(indent);
    this.pos++;
    return this.parseScalarText(stripComment(line.text), line.no);
  }

  private parseSequence(indent: number): YamlValue[] {
    const out: YamlValue[] = [];
    for (let line = this.peek(); line && line.indent === indent && (line.text === '-' || line.text.startsWith('- ')); line = this.peek()) {
      const rest = line.text === '-' ? '' : line.text.slice(2);
      const restTrim = rest.trimStart();
      if (stripComment(restTrim) === '') {
        this.pos++;
        const next = this.peek();
        out.push(next && next.indent > indent ? this.parseNode(next.indent) : null);
        continue;
      }
      // "- key: value" or "- - x": the item is a block node starting in this line.
      const itemIndent = indent + 2 + (rest.length - restTrim.length);
      this.lines[this.pos] = { no: line.no, indent: itemIndent, text: restTrim };
      out.push(this.parseNode(itemIndent));
    }
    return out;
  }

  private parseMapping(indent: number): Record<string, YamlValue> {
    const out: Record<string, YamlValue> = Object.create(null);
    for (let line = this.peek(); line && line.indent === indent; line = this.peek()) {
      if (line.text === '-' || line.text.startsWith('- ')) this.fail(line.no, 'a sequence item where a mapping key was expected');
      const colon = findMappingColon(line.text);
      if (colon < 0) this.fail(line.no, `expected "key: value", got ${JSON.stringify(line.text.slice(0, 40))}`);
      const key = String(this.parseScalarText(line.text.slice(0, colon).trim(), line.no, true));
      if (Object.prototype.hasOwnProperty.call(out, key)) this.fail(line.no, `duplicate key ${JSON.stringify(key)}`);
      const value = stripComment(line.text.slice(colon + 1).trim());
      this.pos++;
      if (value === '') {
        const next = this.peek();
        // A sequence may sit at the key's own indentation (kubectl writes it that way).
        if (next && (next.indent > indent || (next.indent === indent && (next.text === '-' || next.text.startsWith('- '))))) {
          out[key] = this.parseNode(next.indent);
        } else out[key] = null;
      } else if (/^[|>]/.test(value)) {
        out[key] = this.blockScalar(value, indent, line.no);
      } else out[key] = this.parseScalarText(value, line.no);
    }
    return { ...out };
  }

  /** `|` / `>` with optional chomping (`-`, `+`) and indentation indicator. */
  private blockScalar(header: string, parentIndent: number, no: number): string {
    const m = /^([|>])([-+]?)([1-9]?)([-+]?)$/.exec(header);
    if (!m) this.fail(no, `unsupported block scalar header ${JSON.stringify(header)}`);
    const folded = m[1] === '>';
    const chomp = m[2] || m[4];
    // Block scalar lines are taken from the raw text: blank lines and '#' belong to the content.
    const startRaw = no; // raw index of the following line (lines are 1-based)
    let end = startRaw;
    let indent = m[3] ? parentIndent + Number(m[3]) : -1;
    for (let i = startRaw; i < this.raw.length; i++) {
      const r = this.raw[i]!;
      if (r.trim() === '') {
        end = i + 1;
        continue;
      }
      const ind = r.length - r.trimStart().length;
      if (indent < 0) indent = ind;
      if (ind < indent || ind <= parentIndent) break;
      end = i + 1;
    }
    if (indent < 0) indent = parentIndent + 1;
    const body = this.raw.slice(startRaw, end).map((r) => r.slice(Math.min(indent, r.length - r.trimStart().length)));
    // Skip the consumed lines in the parsed-line list.
    while (this.peek() && this.peek()!.no <= end) this.pos++;
    let trailing = 0;
    while (body.length && body[body.length - 1]!.trim() === '') {
      body.pop();
      trailing++;
    }
    let text: string;
    if (!folded) text = body.join('\n');
    else text = fold(body);
    if (body.length === 0) return '';
    if (chomp === '-') return text;
    if (chomp === '+') return text + '\n'.repeat(trailing + 1);
    return text + '\n';
  }

  parseScalarText(s: string, no: number, isKey = false): YamlValue {
    if (s.startsWith('"')) return this.doubleQuoted(s, no);
    if (s.startsWith("'")) {
      if (!/^'(?:[^']|'')*'$/.test(s)) this.fail(no, 'unterminated single-quoted string (multi-line quoted strings are not supported)');
      return s.slice(1, -1).replace(/''/g, "'");
    }
    if (!isKey && (s.startsWith('[') || s.startsWith('{'))) return this.flow(s, no);
    if (/^[&*!]/.test(s)) this.fail(no, 'anchors, aliases and tags are not supported');
    if (s === '---' || s === '...') this.fail(no, 'multiple YAML documents are not supported');
    if (isKey) return s;
    return resolvePlain(s);
  }

  private doubleQuoted(s: string, no: number): string {
    let out = '';
    let i = 1;
    for (; i < s.length; i++) {
      const c = s[i]!;
      if (c === '"') break;
      if (c !== '\\') {
        out += c;
        continue;
      }
      const e = s[++i];
      const simple: Record<string, string> = {
        n: '\n',
        t: '\t',
        r: '\r',
        '"': '"',
        '\\': '\\',
        '/': '/',
        '0': '\0',
        b: '\b',
        f: '\f',
        e: '\x1b',
        a: '\x07',
        v: '\v',
        ' ': ' ',
        N: '\u0085',
        _: '\u00a0',
        L: '\u2028',
        P: '\u2029',
      };
      if (e !== undefined && e in simple) out += simple[e];
      else if (e === 'x' || e === 'u' || e === 'U') {
        const n = e === 'x' ? 2 : e === 'u' ? 4 : 8;
        const hex = s.slice(i + 1, i + 1 + n);
        if (!/^[0-9a-fA-F]+$/.test(hex) || hex.length !== n) this.fail(no, `bad escape \\${e}${hex}`);
        out += String.fromCodePoint(parseInt(hex, 16));
        i += n;
      } else this.fail(no, `unknown escape \\${e ?? ''}`);
    }
    if (i >= s.length) this.fail(no, 'unterminated double-quoted string (multi-line quoted strings are not supported)');
    if (stripComment(s.slice(i + 1)).trim() !== '') this.fail(no, 'text after a quoted string');
    return out;
  }

  /** One-line flow collection. */
  private flow(s: string, no: number): YamlValue {
    let i = 0;
    const ws = () => {
      while (s[i] === ' ') i++;
    };
    const item = (): YamlValue => {
      ws();
      if (s[i] === '[' || s[i] === '{') return coll();
      let j = i;
      if (s[i] === '"' || s[i] === "'") {
        const q = s[i]!;
        j++;
        while (j < s.length && !(s[j] === q && (q !== "'" || s[j + 1] !== "'") && (q !== '"' || s[j - 1] !== '\\')))
          j += q === "'" && s[j] === "'" ? 2 : 1;
        j++;
      } else while (j < s.length && !',]}'.includes(s[j]!) && !(s[j] === ':' && s[j + 1] === ' ')) j++;
      const text = s.slice(i, j).trim();
      i = j;
      return this.parseScalarText(text, no);
    };
    const coll = (): YamlValue => {
      const open = s[i++]!;
      const close = open === '[' ? ']' : '}';
      const arr: YamlValue[] = [];
      const obj: Record<string, YamlValue> = {};
      ws();
      if (s[i] === close) {
        i++;
        return open === '[' ? arr : obj;
      }
      for (;;) {
        const v = item();
        ws();
        if (open === '{') {
          if (s[i] !== ':') this.fail(no, 'expected ":" in a flow mapping');
          i++;
          obj[String(v)] = item();
          ws();
        } else arr.push(v);
        if (s[i] === ',') {
          i++;
          continue;
        }
        if (s[i] === close) {
          i++;
          return open === '[' ? arr : obj;
        }
        this.fail(no, 'unterminated flow collection (multi-line flow collections are not supported)');
      }
    };
    const v = coll();
    if (stripComment(s.slice(i)).trim() !== '') this.fail(no, 'text after a flow collection');
    return v;
  }
}

/** Folding of a `>` block: single line breaks between normal lines become spaces. */
function fold(body: string[]): string {
  let text = '';
  let prev: 'none' | 'normal' | 'more' | 'empty' = 'none';
  let beforeEmpty: 'none' | 'normal' | 'more' = 'none';
  for (const l of body) {
    if (l === '') {
      if (prev !== 'empty') beforeEmpty = prev === 'none' ? 'none' : prev;
      text += '\n';
      prev = 'empty';
      continue;
    }
    const more = /^\s/.test(l);
    if (prev === 'none') text += l;
    else if (prev === 'normal' && !more) text += ' ' + l;
    else if (prev === 'empty') text += (more || beforeEmpty === 'more' ? '\n' : '') + l;
    else text += '\n' + l;
    prev = more ? 'more' : 'normal';
  }
  return text;
}

/** Index of the ": " (or final ":") that separates a key from its value, outside quotes. */
function findMappingColon(text: string): number {
  let i = 0;
  if (text.startsWith('"') || text.startsWith("'")) {
    const q = text[0]!;
    i = 1;
    while (i < text.length) {
      if (text[i] === '\\' && q === '"') i += 2;
      else if (text[i] === q) {
        if (q === "'" && text[i + 1] === "'") i += 2;
        else break;
      } else i++;
    }
    i++;
  } else if (/^[[{]/.test(text)) return -1;
  for (; i < text.length; i++) {
    if (text[i] === '#' && (i === 0 || text[i - 1] === ' ')) return -1;
    if (text[i] === ':' && (i + 1 === text.length || text[i + 1] === ' ')) return i;
  }
  return -1;
}

/** Drop a trailing " # comment" outside quotes. */
function stripComment(s: string): string {
  let q = '';
  for (let i = 0; i < s.length; i++) {
    const c = s[i]!;
    if (q) {
      if (c === '\\' && q === '"') i++;
      else if (c === q) q = '';
    } else if (c === '"' || c === "'") {
      if (i === 0 || /[\s[{,:]/.test(s[i - 1]!)) q = c;
    } else if (c === '#' && (i === 0 || /\s/.test(s[i - 1]!))) return s.slice(0, i).trimEnd();
  }
  return s.trimEnd();
}

/** YAML 1.2 core schema resolution of a plain scalar. */
function resolvePlain(s: string): YamlValue {
  if (/^(?:~|null|Null|NULL)$/.test(s) || s === '') return null;
  if (/^(?:true|True|TRUE)$/.test(s)) return true;
  if (/^(?:false|False|FALSE)$/.test(s)) return false;
  if (/^[-+]?[0-9]+$/.test(s)) {
    const n = Number(s);
    return Number.isSafeInteger(n) ? n : s;
  }
  if (/^0x[0-9a-fA-F]+$/.test(s)) return parseInt(s.slice(2), 16);
  if (/^0o[0-7]+$/.test(s)) return parseInt(s.slice(2), 8);
  if (/^[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?$/.test(s)) return Number(s);
  if (/^[-+]?\.(?:inf|Inf|INF)$/.test(s)) return s.startsWith('-') ? -Infinity : Infinity;
  if (/^\.(?:nan|NaN|NAN)$/.test(s)) return NaN;
  return s;
}

/** Parse one YAML document (the subset described above). */
export function parseYaml(text: string, what = 'YAML'): YamlValue {
  const raw = text.replace(/^\ufeff/, '').split(/\r?\n/);
  const lines: Line[] = [];
  let started = false;
  raw.forEach((r, i) => {
    if (/\t/.test(r.slice(0, r.length - r.trimStart().length)))
      throw new YamlError(`${what}: line ${i + 1}: tabs are not allowed for indentation`);
    const t = r.trim();
    if (t === '' || t.startsWith('#')) return;
    if (!started && (t === '---' || t.startsWith('--- ') || t.startsWith('%'))) {
      if (t.startsWith('%')) throw new YamlError(`${what}: line ${i + 1}: YAML directives are not supported`);
      started = true;
      if (t !== '---') lines.push({ no: i + 1, indent: 0, text: t.slice(4).trim() });
      return;
    }
    started = true;
    if (t === '---' || t === '...') {
      if (t === '...' || lines.length) throw new YamlError(`${what}: line ${i + 1}: multiple YAML documents are not supported`);
      return;
    }
    lines.push({ no: i + 1, indent: r.length - r.trimStart().length, text: r.trim() });
  });
  return new Parser(lines, raw, what).parseDocument();
}
