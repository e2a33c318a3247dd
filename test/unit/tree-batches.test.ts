/** decodeTreeBatches: the same nodes and errors as decodeTree, in batches a caller can pause between. */
import { describe, expect, it } from 'vitest';
import type { Node } from '../../src/format/node.js';
import { decodeTree, decodeTreeBatches, encodeTree } from '../../src/format/tree.js';

const utf8 = (s: string) => new Uint8Array(Buffer.from(s, 'utf8'));
const T = '2024-01-01T00:00:00Z';

function nodes(n: number, extra: Partial<Node> = {}): Node[] {
  return Array.from({ length: n }, (_, i) => ({
    name: utf8(`f"\\{[${String(i).padStart(6, '0')}]}`),
    type: 'file' as const,
    mode: 0o644,
    mtime: T,
    atime: T,
    ctime: T,
    uid: 1,
    gid: 2,
    size: i,
    content: [],
    ...extra,
  }));
}

function batched(bytes: Uint8Array): { nodes: Node[]; batches: number } {
  const out: Node[] = [];
  let batches = 0;
  for (const b of decodeTreeBatches(bytes)) {
    batches++;
    out.push(...b);
  }
  return { nodes: out, batches };
}

function errorOf(f: () => unknown): string {
  try {
    f();
  } catch (err) {
    return (err as Error).message;
  }
  return 'no error';
}

describe('decodeTreeBatches', () => {
  it('decodes a big tree in many batches, equal to decodeTree (names with quotes and brackets)', () => {
    const bytes = encodeTree(nodes(20_000));
    const r = batched(bytes);
    expect(r.batches).toBeGreaterThan(5);
    expect(r.nodes).toEqual(decodeTree(bytes));
    expect(r.nodes).toHaveLength(20_000);
  });

  it('keeps 64-bit numbers exact (the bigint re-parse of one batch)', () => {
    const bytes = encodeTree(nodes(5000, { inode: 2n ** 63n + 5n, deviceId: 2n ** 60n }));
    const r = batched(bytes);
    expect(r.nodes[4999]!.inode).toBe(2n ** 63n + 5n);
    expect(r.nodes).toEqual(decodeTree(bytes));
  });

  it.each([
    ['empty', '{"nodes":[]}\n'],
    ['blank', '{ "nodes" : [ \n ] }'],
    ['null', '{"nodes":null}'],
    ['other member after nodes', '{"nodes":[{"name":"a","type":"file"}],"x":1}'],
    ['nodes given twice', '{"nodes":[{"name":"a","type":"file"}],"nodes":[]}'],
    ['whitespace inside', '{"nodes":[ {"name":"a","type":"file"} , {"name":"b","type":"dir"} ]}'],
  ])('%s: as decodeTree', (_, json) => {
    expect(batched(utf8(json)).nodes).toEqual(decodeTree(utf8(json)));
  });

  it.each([
    ['a trailing comma', (big: string) => `{"nodes":[${big},]}`],
    ['a missing bracket', (big: string) => `{"nodes":[${big}}`],
    ['an empty element', (big: string) => `{"nodes":[${big},,${big}]}`],
    ['a bad node', (big: string) => `{"nodes":[${big},{"name":1}]}`],
    ['bad JSON inside', (big: string) => `{"nodes":[${big},{"name":"a",}]}`],
  ])('%s: the error decodeTree gives, also after batches', (_, make) => {
    const big = new TextDecoder().decode(encodeTree(nodes(3000))).slice('{"nodes":['.length, -']}\n'.length);
    const bytes = utf8(make(big));
    const want = errorOf(() => decodeTree(bytes));
    expect(want).not.toBe('no error');
    expect(errorOf(() => batched(bytes))).toBe(want);
  });
});
