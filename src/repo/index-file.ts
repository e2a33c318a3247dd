/**
 * Index files (`index/<id>`): which blobs live in which pack at which offset.
 * restic loads every index file; `supersedes` is informational only.
 */
import { FormatError } from '../errors.js';
import type { BlobType, PackedBlob } from './pack.js';
import { isId } from './id.js';

/** restic starts a new index file at this many blobs (indexMaxBlobs). */
export const INDEX_MAX_BLOBS = 50_000;

export interface IndexPack {
  id: string;
  blobs: PackedBlob[];
}

export interface IndexFile {
  supersedes: string[];
  packs: IndexPack[];
  /** Pre-0.7 array format (no supersedes). */
  legacy?: boolean;
}

/** JSON as restic's json.Encoder writes it: compact, trailing newline. */
export function encodeIndex(idx: IndexFile): Uint8Array {
  const parts: string[] = [];
  if (idx.supersedes.length) parts.push(`"supersedes":[${idx.supersedes.map((s) => `"${s}"`).join(',')}]`);
  const packs = idx.packs.map((p) => {
    const blobs = p.blobs.map((b) => {
      const u = b.uncompressedLength ? `,"uncompressed_length":${b.uncompressedLength}` : '';
      return `{"id":"${b.id}","type":"${b.type}","offset":${b.offset},"length":${b.length}${u}}`;
    });
    return `{"id":"${p.id}","blobs":[${blobs.join(',')}]}`;
  });
  parts.push(`"packs":[${packs.join(',')}]`);
  return Buffer.from('{' + parts.join(',') + '}\n');
}

export function decodeIndex(plain: Uint8Array, name = ''): IndexFile {
  const where = `index ${name.slice(0, 8)}`;
  let raw: unknown;
  try {
    raw = JSON.parse(Buffer.from(plain).toString('utf8'));
  } catch (err) {
    throw new FormatError(`${where} is not valid JSON: ${(err as Error).message}`);
  }
  if (Array.isArray(raw)) return { supersedes: [], packs: raw.map((p) => decodePack(p, where)), legacy: true };
  if (!raw || typeof raw !== 'object') throw new FormatError(`${where} is not an index`);
  const o = raw as { supersedes?: unknown; packs?: unknown };
  const supersedes = Array.isArray(o.supersedes) ? o.supersedes.filter(isId) : [];
  const packs = Array.isArray(o.packs) ? o.packs.map((p) => decodePack(p, where)) : [];
  return { supersedes, packs };
}

function decodePack(p: unknown, where: string): IndexPack {
  const o = p as { id?: unknown; blobs?: unknown };
  if (!o || !isId(o.id) || !Array.isArray(o.blobs)) throw new FormatError(`${where} has a malformed pack entry`);
  return { id: o.id, blobs: o.blobs.map((b) => decodeBlob(b, where)) };
}

function decodeBlob(b: unknown, where: string): PackedBlob {
  const o = b as { id?: unknown; type?: unknown; offset?: unknown; length?: unknown; uncompressed_length?: unknown };
  const u32 = (v: unknown) => typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= 0xffffffff;
  if (!o || !isId(o.id) || (o.type !== 'data' && o.type !== 'tree') || !u32(o.offset) || !u32(o.length)) {
    throw new FormatError(`${where} has a malformed blob entry`);
  }
  const ul = o.uncompressed_length;
  if (ul !== undefined && ul !== null && !u32(ul)) throw new FormatError(`${where} has a malformed uncompressed_length`);
  return {
    id: o.id,
    type: o.type as BlobType,
    offset: o.offset as number,
    length: o.length as number,
    uncompressedLength: (ul as number | undefined) ?? 0,
  };
}
