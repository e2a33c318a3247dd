/**
 * YAML for Kubernetes manifests and Che's backup-info.yaml, on the `yaml` package (YAML 1.2,
 * core schema), behind the small API the operator uses.
 *
 * Reader: anything `kubectl get -o yaml` or a person writes, including anchors and aliases
 * and `---` document markers. Where one manifest is expected, empty documents (a leading or
 * trailing `---`, comments only) are skipped and exactly one document with content is taken;
 * a second one is an error (`kubectl get a b -o yaml` prints one `kind: List` instead, and a
 * backup must not silently drop an object). Syntax errors, duplicate keys, unknown `!tags`
 * and unresolved aliases are a YamlError naming the source and the line.
 *
 * Writer: block mappings and sequences, sequences under a key at the key's indentation
 * (kubectl style), strings plain when that reads back as the same string, otherwise
 * double-quoted with JSON escapes; no line folding.
 */
import {
  Document,
  LineCounter,
  type DocumentOptions,
  type ParseOptions,
  type SchemaOptions,
  type YAMLError,
  isScalar,
  parseAllDocuments,
  visit,
} from 'yaml';
import { FormatError } from '../errors.js';

export class YamlError extends FormatError {}

export type YamlValue = null | boolean | number | string | YamlValue[] | { [key: string]: YamlValue };

// ---------------------------------------------------------------- writer

// Also quoted: YAML 1.1's booleans (yes, on, y, …), which Go's YAML 1.1 readers would turn
// into booleans, and anything a YAML reader might take for another type or for syntax.
const RESERVED_PLAIN = /^(?:~|null|Null|NULL|true|True|TRUE|false|False|FALSE|yes|Yes|YES|no|No|NO|on|On|ON|off|Off|OFF|y|Y|n|N)$/;
const NUMBER_LIKE =
  /^[-+]?(?:\.?[0-9][0-9_]*(?:\.[0-9_]*)?(?:[eE][-+]?[0-9]+)?|0x[0-9a-fA-F_]+|0o[0-7_]+|\.inf|\.Inf|\.INF|\.nan|\.NaN|\.NAN)$/;

/** A string that may be written without quotes and reads back as the same string, in any YAML version. */
function isPlainSafe(s: string): boolean {
  if (s === '' || s.trim() !== s) return false;
  if (RESERVED_PLAIN.test(s) || NUMBER_LIKE.test(s)) return false;
  if (/^[-?:,[\]{}#&*!|>'"%@`]/.test(s)) return false;
  if (/[\x00-\x1f\x7f\u0085\u2028\u2029\ufeff]/.test(s)) return false;
  if (s.includes(': ') || s.includes(' #') || s.endsWith(':')) return false;
  return true;
}

function checkValue(v: unknown, where: string): asserts v is YamlValue {
  if (v === null || typeof v === 'boolean' || typeof v === 'number' || typeof v === 'string') return;
  if (Array.isArray(v)) {
    v.forEach((item, i) => checkValue(item, `${where}[${i}]`));
    return;
  }
  if (typeof v === 'object' && (Object.getPrototypeOf(v) === Object.prototype || Object.getPrototypeOf(v) === null)) {
    for (const [k, item] of Object.entries(v)) if (item !== undefined) checkValue(item, `${where}.${k}`);
    return;
  }
  throw new YamlError(
    `cannot write ${where} as YAML: unsupported value of type ${v === undefined ? 'undefined' : typeof v === 'object' ? (v.constructor?.name ?? 'object') : typeof v}`,
  );
}

/** YAML text for a JSON-like value (a mapping at the top for manifests). */
export function toYaml(value: unknown, what = 'value'): string {
  checkValue(value, what);
  const doc = new Document(value); // YAML 1.2, core schema
  visit(doc, {
    Scalar(_, node) {
      if (typeof node.value === 'string' && !isPlainSafe(node.value)) node.type = 'QUOTE_DOUBLE';
    },
  });
  // Only what differs from yaml's defaults (plain strings, `null`/`true`/`false` are those).
  return doc.toString({ indentSeq: false, lineWidth: 0, blockQuote: false, doubleQuotedAsJSON: true, singleQuote: false });
}

/**
 * yaml.v2's key order (its sorter.go), which sigs.k8s.io/yaml output follows: rune by rune,
 * non-letters before letters, runs of digits compared as numbers. Applied to nested mappings.
 */
export function sortKeysAsGoYaml<T>(value: T): T {
  if (Array.isArray(value)) return value.map((v) => sortKeysAsGoYaml(v)) as T;
  if (value === null || typeof value !== 'object') return value;
  const out: Record<string, unknown> = {};
  const entries = Object.entries(value as Record<string, unknown>).filter(([, v]) => v !== undefined);
  for (const [k, v] of entries.sort(([a], [b]) => goYamlKeyCompare(a, b))) out[k] = sortKeysAsGoYaml(v);
  return out as T;
}

const isLetter = (c: string) => /\p{L}/u.test(c);
const isDigit = (c: string | undefined) => c !== undefined && /\p{Nd}/u.test(c);

function goYamlKeyCompare(a: string, b: string): number {
  const ar = [...a];
  const br = [...b];
  for (let i = 0; i < ar.length && i < br.length; i++) {
    if (ar[i] === br[i]) continue;
    const al = isLetter(ar[i]!);
    const bl = isLetter(br[i]!);
    if (al && bl) return ar[i]!.codePointAt(0)! - br[i]!.codePointAt(0)!;
    if (al || bl) return bl ? -1 : 1;
    let an = 0;
    let bn = 0;
    if (ar[i] === '0' || br[i] === '0') {
      for (let j = i - 1; j >= 0 && isDigit(ar[j]); j--) {
        if (ar[j] !== '0') {
          an = bn = 1;
          break;
        }
      }
    }
    let ai = i;
    let bi = i;
    for (; isDigit(ar[ai]); ai++) an = an * 10 + Number(ar[ai]);
    for (; isDigit(br[bi]); bi++) bn = bn * 10 + Number(br[bi]);
    if (an !== bn) return an - bn;
    if (ai !== bi) return ai - bi;
    return ar[i]!.codePointAt(0)! - br[i]!.codePointAt(0)!;
  }
  return ar.length - br.length;
}

// ---------------------------------------------------------------- reader

const PARSE_OPTIONS: ParseOptions & DocumentOptions & SchemaOptions = {
  version: '1.2',
  uniqueKeys: true,
  merge: true, // `<<: *defaults`, as Go's YAML readers (kubectl) take it
  intAsBigInt: true, // integers beyond 2^53 stay exact (as text, see below)
  resolveKnownTags: false,
  prettyErrors: false,
};

type Doc = Document.Parsed;

/** Parse one YAML document (see above for `---` and empty documents). */
export function parseYaml(text: string, what = 'YAML'): YamlValue {
  const lineCounter = new LineCounter();
  const fail = (offset: number, msg: string): never => {
    throw new YamlError(`${what}: line ${lineCounter.linePos(offset).line}: ${msg.split('\n')[0]}`);
  };
  const docs: Doc[] = parseAllDocuments(text, { ...PARSE_OPTIONS, lineCounter });
  for (const d of docs) {
    const problem = d.errors[0] ?? d.warnings.find((w) => w.code === 'TAG_RESOLVE_FAILED');
    if (problem) fail(problem.pos[0], describe(problem, text));
  }
  const content = docs.filter((d) => !isEmptyDocument(d));
  if (content.length > 1) {
    fail(
      content[1]!.range?.[0] ?? 0,
      `a second YAML document where one manifest is expected (${content.length} documents); give each object as its own manifest`,
    );
  }
  const doc = content[0];
  if (!doc) return null;
  return documentValue(doc, fail);
}

function describe(e: YAMLError, text: string): string {
  if (e.code === 'TAG_RESOLVE_FAILED') return `unsupported tag (${e.message})`;
  if (e.code === 'DUPLICATE_KEY') {
    const key = /^(?:"(?:[^"\\]|\\.)*"|'(?:[^']|'')*'|.*?(?=:(?:\s|$)))/.exec(text.slice(e.pos[0]).split('\n')[0]!)?.[0] ?? '';
    return `duplicate key ${/^["']/.test(key) ? key : JSON.stringify(key)}`;
  }
  return e.message;
}

/** No content: nothing but comments (or nothing) between the document markers. */
function isEmptyDocument(d: Doc): boolean {
  return d.contents === null || (isScalar(d.contents) && d.contents.value === null && !d.contents.source);
}

function documentValue(doc: Doc, fail: (offset: number, msg: string) => never): YamlValue {
  visit(doc, {
    Alias(_, node) {
      if (!node.resolve(doc)) fail(node.range?.[0] ?? 0, `alias *${node.source} refers to no anchor before it`);
    },
    Scalar(_, node) {
      // Integers: exact ones as numbers, larger ones as their text (they do not fit a number).
      if (typeof node.value === 'bigint') {
        const n = Number(node.value);
        node.value = Number.isSafeInteger(n) ? n : (node.source ?? String(node.value));
      }
    },
  });
  try {
    return doc.toJS({ maxAliasCount: 100 }) as YamlValue;
  } catch (err) {
    return fail(doc.range?.[0] ?? 0, (err as Error).message);
  }
}
