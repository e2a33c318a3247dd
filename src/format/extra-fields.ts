/**
 * JSON members a newer restic writes that we do not know (a snapshot's, a summary's, a tree
 * node's). They are kept as text with the known key they followed, so an object we rewrite
 * keeps them byte for byte and in place; restic 0.14 ignores unknown fields.
 */
import { goJsonString } from '../go/json-string.js';
import { jsonMembers } from '../go/json-parse.js';

/** An unknown JSON member: its key, value text, and the known key it followed ('' = first). */
export interface ExtraField {
  key: string;
  json: string;
  after: string;
}

/** Known members (in struct order) with the unknown ones put back after the key they followed. */
export function joinMembers(order: readonly string[], known: Array<[string, string]>, extras: readonly ExtraField[] | undefined): string {
  const rank = (k: string) => order.indexOf(k);
  const rest = [...(extras ?? [])];
  const out: string[] = [];
  const flush = (below: number) => {
    while (rest.length && rank(rest[0]!.after) < below) {
      const e = rest.shift()!;
      out.push(`${goJsonString(e.key)}:${e.json}`);
    }
  };
  for (const [k, v] of known) {
    flush(rank(k));
    out.push(`${goJsonString(k)}:${v}`);
  }
  flush(Infinity);
  return '{' + out.join(',') + '}';
}

/** Members of the object text `text` whose keys are not in `order`, each with the known key before it. */
export function unknownMembers(
  text: string,
  order: readonly string[],
  compact: (json: string, key: string) => string,
): ExtraField[] | undefined {
  const out: ExtraField[] = [];
  let after = '';
  for (const [key, json] of jsonMembers(text) ?? []) {
    if (order.includes(key)) after = key;
    else out.push({ key, json: compact(json, key), after });
  }
  return out.length ? out : undefined;
}

/** Re-insert `extras` into the object text `base` (whose members are all known, in `order`). */
export function withExtraMembers(base: string, order: readonly string[], extras: readonly ExtraField[]): string {
  return joinMembers(order, jsonMembers(base) ?? [], extras);
}
