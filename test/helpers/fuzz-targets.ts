/**
 * Property-based fuzzing of every decoder that reads bytes an attacker or a damaged disk
 * controls (issue 18). Each target has an input generator (mutations of a valid encoding,
 * JSON of the right shape with wrong values, random bytes) and a run(): the property is
 * that run() returns or throws one of our typed errors (ResticError), never anything else.
 */
import fc from 'fast-check';
import net from 'node:net';
import { newRandomKey, encrypt, decrypt } from '../../src/crypto/index.js';
import { encodeConfig, decodeConfig } from '../../src/format/config.js';
import { decodeIndex, encodeIndex } from '../../src/format/index-file.js';
import { decodeKeyFile } from '../../src/format/key.js';
import { decodeLock, encodeLock } from '../../src/format/lock-file.js';
import { decodeHeader, encodeHeader, parsePackBytes, type PackedBlob } from '../../src/format/pack.js';
import { decodeSnapshot, encodeSnapshot } from '../../src/format/snapshot.js';
import { decodeTree, encodeTree } from '../../src/format/tree.js';
import { frameUnpacked, unframeUnpacked } from '../../src/format/unpacked.js';
import { openStoredBlob } from '../../src/format/blob-open.js';
import { zstdCompress, zstdDecompress } from '../../src/compress/zstd.js';
import { parseJson } from '../../src/go/json-parse.js';
import { parseYaml, toYaml } from '../../src/operator/yaml.js';
import { resolveBackupServer } from '../../src/operator/config.js';
import { parseHtpasswd } from '../../src/rest-server/htpasswd.js';
import type { Node } from '../../src/format/node.js';

export interface FuzzTarget {
  name: string;
  arb: fc.Arbitrary<unknown>;
  run(input: unknown): unknown;
}

const KEY = newRandomKey();
const id = (n: number) => n.toString(16).padStart(2, '0').repeat(32);
const ascii = (s: string) => new Uint8Array(Buffer.from(s));

const JSON_TOKENS = ['{', '}', '[', ']', '"', ',', ':', 'null', '-1', '1e308', '99999999999999999999', '"\\u0000"', 'true', '\\', '\n'];

/** A byte edit of a seed: flip, delete, insert, truncate, duplicate, or a JSON token. */
const edit = fc.record({
  at: fc.nat(),
  op: fc.integer({ min: 0, max: 5 }),
  b: fc.integer({ min: 0, max: 255 }),
  n: fc.integer({ min: 1, max: 64 }),
  tok: fc.constantFrom(...JSON_TOKENS),
});

type Edit = typeof edit extends fc.Arbitrary<infer T> ? T : never;

function applyEdits(seed: Uint8Array, edits: Edit[]): Uint8Array {
  let b = Buffer.from(seed);
  for (const e of edits) {
    const at = b.length ? e.at % (b.length + 1) : 0;
    if (e.op === 0 && at < b.length) b[at] = b[at]! ^ (e.b || 1);
    else if (e.op === 1) b = Buffer.concat([b.subarray(0, at), b.subarray(at + e.n)]);
    else if (e.op === 2) b = Buffer.concat([b.subarray(0, at), Buffer.alloc(e.n, e.b), b.subarray(at)]);
    else if (e.op === 3) b = b.subarray(0, at);
    else if (e.op === 4) b = Buffer.concat([b.subarray(0, at + e.n), b.subarray(at)]);
    else b = Buffer.concat([b.subarray(0, at), Buffer.from(e.tok), b.subarray(at)]);
  }
  return new Uint8Array(b);
}

/** Inputs for a decoder of `seeds`' kind: mostly edits of a seed, some random bytes. */
function bytesLike(...seeds: Uint8Array[]): fc.Arbitrary<Uint8Array> {
  return fc.oneof(
    { weight: 6, arbitrary: fc.tuple(fc.constantFrom(...seeds), fc.array(edit, { maxLength: 6 })).map(([s, e]) => applyEdits(s, e)) },
    { weight: 1, arbitrary: fc.uint8Array({ maxLength: 512 }) },
  );
}

/** JSON objects shaped like `seed` with some fields replaced by arbitrary JSON values. */
function jsonLike(seed: Record<string, unknown>): fc.Arbitrary<Uint8Array> {
  const keys = Object.keys(seed);
  return fc
    .tuple(fc.subarray(keys), fc.array(fc.tuple(fc.constantFrom(...keys), fc.jsonValue({ maxDepth: 3 })), { maxLength: 4 }))
    .map(([kept, changes]) => {
      const o: Record<string, unknown> = {};
      for (const k of kept) o[k] = seed[k];
      for (const [k, v] of changes) o[k] = v;
      return ascii(JSON.stringify(o));
    });
}

function jsonInputs(seed: Record<string, unknown>, encoded: Uint8Array): fc.Arbitrary<Uint8Array> {
  return fc.oneof(
    { weight: 2, arbitrary: bytesLike(encoded) },
    { weight: 2, arbitrary: jsonLike(seed) },
    { weight: 1, arbitrary: fc.jsonValue().map((v) => ascii(JSON.stringify(v) ?? 'null')) },
  );
}

const BLOBS: PackedBlob[] = [
  { type: 'data', id: id(1), offset: 0, length: 100, uncompressedLength: 0 },
  { type: 'tree', id: id(2), offset: 100, length: 60, uncompressedLength: 200 },
];

const NODES: Node[] = [
  {
    name: ascii('dir'),
    type: 'dir',
    mode: 0o20000000755,
    mtime: '2024-01-01T00:00:00Z',
    atime: '2024-01-01T00:00:00Z',
    ctime: '2024-01-01T00:00:00Z',
    uid: 0,
    gid: 0,
    content: null,
    subtree: id(3),
  },
  {
    name: ascii('f'),
    type: 'file',
    mode: 0o644,
    mtime: '2024-01-01T00:00:00.5+01:00',
    atime: '2024-01-01T00:00:00Z',
    ctime: '2024-01-01T00:00:00Z',
    uid: 1000,
    gid: 1000,
    size: 5,
    inode: 2n ** 60n,
    content: [id(4)],
  },
  {
    name: ascii('l'),
    type: 'symlink',
    mode: 0o1000000777,
    mtime: '2024-01-01T00:00:00Z',
    atime: '2024-01-01T00:00:00Z',
    ctime: '2024-01-01T00:00:00Z',
    uid: 0,
    gid: 0,
    linktarget: ascii('../x'),
    content: null,
  },
] as Node[];

const SNAPSHOT = {
  time: '2024-01-01T00:00:00.123456789+02:00',
  tree: id(5),
  paths: ['/a', '/b'],
  hostname: 'h',
  username: 'u',
  uid: 1,
  gid: 2,
  tags: ['x'],
  parent: id(6),
};
const KEYFILE = {
  created: '2024-01-01T00:00:00Z',
  username: 'u',
  hostname: 'h',
  kdf: 'scrypt',
  N: 1024,
  r: 8,
  p: 1,
  salt: Buffer.alloc(64, 1).toString('base64'),
  data: Buffer.alloc(112, 2).toString('base64'),
};
const LOCK = { time: '2024-01-01T00:00:00Z', exclusive: false, hostname: 'h', username: 'u', pid: 1, uid: 1, gid: 1 };
const CONFIG = { version: 2, id: id(7), chunker_polynomial: '3da3358b4dc173' };
const INDEX = {
  supersedes: [id(8)],
  packs: [
    {
      id: id(9),
      blobs: BLOBS.map((b) => ({
        id: b.id,
        type: b.type,
        offset: b.offset,
        length: b.length,
        uncompressed_length: b.uncompressedLength || undefined,
      })),
    },
  ],
};
const BACKUP_CR = {
  apiVersion: 'org.eclipse.che/v1',
  kind: 'CheBackupServerConfiguration',
  metadata: { name: 'backup' },
  spec: {
    rest: {
      protocol: 'https',
      hostname: 'backup.example',
      port: 8000,
      repositoryPath: 'che',
      repositoryPasswordSecretRef: 'pw',
      credentialsSecretRef: 'cred',
    },
  },
};

function packFile(header: Uint8Array): Uint8Array {
  const enc = encrypt(KEY, header);
  const len = Buffer.alloc(4);
  len.writeUInt32LE(enc.length);
  return new Uint8Array(Buffer.concat([Buffer.alloc(160, 3), enc, len]));
}

const zstdSeed = zstdCompress(Buffer.from('restic '.repeat(500)));

/** Every decoder, with its inputs. */
export function fuzzTargets(): FuzzTarget[] {
  const u8 = (x: unknown) => x as Uint8Array;
  return [
    { name: 'pack header', arb: bytesLike(encodeHeader(BLOBS)), run: (x) => decodeHeader(u8(x)) },
    {
      name: 'pack file (trailer framing)',
      arb: fc.oneof(
        bytesLike(packFile(encodeHeader(BLOBS))),
        bytesLike(encodeHeader(BLOBS)).map((h) => packFile(h)), // valid MAC, hostile header
      ),
      run: (x) => parsePackBytes(KEY, id(10), u8(x)),
    },
    {
      name: 'index',
      arb: jsonInputs(INDEX, encodeIndex({ supersedes: [id(8)], packs: [{ id: id(9), blobs: BLOBS }] })),
      run: (x) => decodeIndex(u8(x), id(11)),
    },
    { name: 'tree', arb: bytesLike(encodeTree(NODES)), run: (x) => decodeTree(u8(x)) },
    { name: 'snapshot', arb: jsonInputs(SNAPSHOT, encodeSnapshot(SNAPSHOT)), run: (x) => decodeSnapshot(u8(x), id(12)) },
    { name: 'key', arb: jsonInputs(KEYFILE, ascii(JSON.stringify(KEYFILE))), run: (x) => decodeKeyFile(u8(x), id(13)) },
    {
      name: 'config',
      arb: jsonInputs(CONFIG, encodeConfig({ version: 2, id: id(7), chunkerPolynomial: 0x3da3358b4dc173n })),
      run: (x) => decodeConfig(u8(x)),
    },
    { name: 'lock', arb: jsonInputs(LOCK, encodeLock(LOCK)), run: (x) => decodeLock(u8(x)) },
    { name: 'encryption framing', arb: bytesLike(encrypt(KEY, ascii('secret'))), run: (x) => decrypt(KEY, u8(x)) },
    {
      name: 'unpacked framing (v2)',
      arb: bytesLike(frameUnpacked(encodeSnapshot(SNAPSHOT), 2), ascii('{}')),
      run: (x) => unframeUnpacked(u8(x), 2),
    },
    {
      name: 'zstd frame',
      arb: fc.tuple(bytesLike(zstdSeed), fc.option(fc.integer({ min: 0, max: 2 ** 32 - 1 }))),
      run: (x) => {
        const [frame, expected] = x as [Uint8Array, number | null];
        return zstdDecompress(frame, 1 << 26, expected ?? undefined);
      },
    },
    {
      name: 'stored blob',
      arb: fc.tuple(bytesLike(encrypt(KEY, zstdSeed)), fc.integer({ min: 0, max: 2 ** 32 - 1 })),
      run: (x) => {
        const [stored, ulen] = x as [Uint8Array, number];
        return openStoredBlob(KEY, stored, 'data', id(14), id(15), ulen);
      },
    },
    {
      name: 'JSON (64-bit numbers)',
      arb: bytesLike(encodeTree(NODES), ascii('[1234567890123456789,-0.5e-3,"\\ud800"]')),
      run: (x) => parseJson(u8(x)),
    },
    {
      name: 'YAML (operator input)',
      arb: fc.oneof(bytesLike(ascii(toYaml(BACKUP_CR))), fc.string({ unit: 'binary', maxLength: 300 }).map(ascii)),
      run: (x) => parseYaml(Buffer.from(u8(x)).toString('utf8'), 'fuzz.yaml'),
    },
    {
      name: 'backup server config + secrets',
      arb: fc.tuple(
        fc
          .oneof(jsonLike(BACKUP_CR.spec.rest), jsonLike({ ...BACKUP_CR.spec.rest, hostname: 'x' }))
          .map((b) => JSON.parse(Buffer.from(b).toString()) as unknown),
        fc.dictionary(
          fc.constantFrom('pw', 'cred', 'other'),
          fc.dictionary(fc.string({ maxLength: 20 }), fc.string({ unit: 'binary', maxLength: 40 }), { maxKeys: 4 }),
        ),
      ),
      run: (x) => {
        const [rest, secrets] = x as [Record<string, unknown>, Record<string, Record<string, string>>];
        return resolveBackupServer({ rest } as never, secrets);
      },
    },
    {
      name: 'htpasswd',
      arb: fc.oneof(
        bytesLike(ascii('alice:$2y$05$abcdefghijklmnopqrstuu5f2dGSTWnPBJsL6hbm5RM2C9fjsLS0e\nbob:{SHA}x\n')),
        fc.string({ unit: 'binary', maxLength: 300 }).map(ascii),
      ),
      run: (x) => parseHtpasswd(Buffer.from(u8(x)).toString('utf8')),
    },
  ];
}

/** A raw HTTP/1.1 request with a fuzzed method, path, Range header and body. */
export const httpRequest: fc.Arbitrary<Buffer> = fc
  .tuple(
    fc.constantFrom('GET', 'HEAD', 'POST', 'DELETE', 'PUT', 'OPTIONS', 'G\x00T'),
    fc.oneof(
      fc.constantFrom(
        '/',
        '/config',
        '/data/',
        '/keys/',
        '/locks/',
        '/snapshots/',
        '/index/',
        '/?create=true',
        '/repo/',
        '/repo/config',
        '/../etc/passwd',
        '/%2e%2e/%2e%2e/etc',
        '/data/' + id(1),
        '//data//' + id(1),
        '/a/b/c/d/e/data/',
      ),
      fc.string({ unit: 'binary-ascii', maxLength: 80 }).map((s) => '/' + encodeURI(s)),
      fc
        .array(
          fc.constantFrom(
            'data',
            'keys',
            'locks',
            'snapshots',
            'index',
            'config',
            '..',
            '.',
            '%2e%2e',
            '%00',
            id(2),
            'repo',
            '?create=true',
            '',
          ),
          { maxLength: 5 },
        )
        .map((p) => '/' + p.join('/')),
    ),
    fc.option(
      fc.oneof(
        fc.constantFrom('bytes=0-10', 'bytes=-5', 'bytes=5-', 'bytes=10-0', 'bytes=0-99999999999999999999', 'bytes=a-b', 'bytes=0-1,3-4'),
        fc.string({ maxLength: 30 }),
      ),
    ),
    fc.uint8Array({ maxLength: 256 }),
    fc.constantFrom('application/vnd.x.restic.rest.v2', 'application/vnd.x.restic.rest.v1', ''),
  )
  .map(([method, path, range, body, accept]) =>
    Buffer.concat([
      Buffer.from(
        `${method} ${path.replace(/[\s]/g, '%20')} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n` +
          (accept ? `Accept: ${accept}\r\n` : '') +
          (range !== null ? `Range: ${range.replace(/[\r\n]/g, '')}\r\n` : '') +
          `Content-Length: ${body.length}\r\n\r\n`,
        'latin1',
      ),
      Buffer.from(body),
    ]),
  );

/**
 * Send a raw request to 127.0.0.1:port: the status code of the answer, 0 when the server
 * closed without one, -1 when it neither answered nor closed within 10 s (a hang).
 */
export function sendRaw(port: number, req: Buffer): Promise<number> {
  return new Promise((resolve, reject) => {
    const sock = net.connect(port, '127.0.0.1');
    let head = '';
    let hung = false;
    sock.setTimeout(10_000, () => {
      hung = true;
      sock.destroy();
    });
    sock.on('data', (d: Buffer) => {
      if (head.length < 64) head += d.toString('latin1');
    });
    sock.on('error', (err: NodeJS.ErrnoException) => (err.code === 'ECONNRESET' ? undefined : reject(err)));
    sock.on('close', () => resolve(hung ? -1 : Number(/^HTTP\/1\.[01] (\d{3})/.exec(head)?.[1] ?? 0)));
    // not end(): a half-closed connection may be dropped before the answer
    sock.write(req);
  });
}
