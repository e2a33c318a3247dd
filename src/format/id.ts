/** IDs are SHA-256 digests, written as 64 lowercase hex characters. */
import { createHash, randomBytes } from 'node:crypto';

const ID_SIZE = 32;

export function hashId(data: Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

export function hashBytes(data: Uint8Array): Buffer {
  return createHash('sha256').update(data).digest();
}

export function randomId(): string {
  return randomBytes(ID_SIZE).toString('hex');
}

const ID_RE = /^[0-9a-f]{64}$/;

export function isId(s: unknown): s is string {
  return typeof s === 'string' && ID_RE.test(s);
}

export function shortId(id: string): string {
  return id.slice(0, 8);
}
