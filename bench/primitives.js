#!/usr/bin/env node
// Speed of the primitives the backup pipeline is built from, single thread, MiB/s (median of
// the repetitions): restic's chunker (Rabin, WASM scan loop), SHA-256, AES-256-CTR, Poly1305-AES,
// zstd compress/decompress (WASM build; node:zlib when the running Node has zstd).
//
//   node bench/primitives.js [--size MiB] [--reps N] [--json]
import crypto from 'node:crypto';
import zlib from 'node:zlib';
import { Chunker } from '../dist/chunker/index.js';
import { poly1305Aes, newRandomKey, encrypt } from '../dist/crypto/index.js';
import { zstdCompress, zstdDecompress } from '../dist/compress/zstd.js';
import { randomBytes, textBytes } from './gen.js';

const argv = process.argv.slice(2);
const arg = (name, def) => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 ? Number(argv[i + 1]) : def;
};
const sizeMiB = arg('size', 64);
const reps = arg('reps', 5);
const MiB = 1 << 20;
const random = randomBytes('primitives', 0, sizeMiB * MiB);
const text = textBytes('primitives-text', sizeMiB * MiB);

/** MiB/s of fn over `bytes`, median of `reps` after one warm-up. */
function rate(bytes, fn) {
  fn();
  const r = [];
  for (let i = 0; i < reps; i++) {
    const t0 = process.hrtime.bigint();
    fn();
    r.push(bytes / MiB / (Number(process.hrtime.bigint() - t0) / 1e9));
  }
  r.sort((a, b) => a - b);
  return { median: +r[r.length >> 1].toFixed(1), best: +r[r.length - 1].toFixed(1) };
}

/** Apply fn to 1 MiB pieces (a blob-sized unit) of buf. */
const perMiB = (buf, fn) => () => {
  for (let o = 0; o < buf.length; o += MiB) fn(buf.subarray(o, o + MiB));
};

const key = newRandomKey();
const pol = 0x3da3358b4dc173n;
const out = [];
const add = (name, r) => {
  out.push({ name, ...r });
  if (!argv.includes('--json')) console.log(`${name.padEnd(44)} ${String(r.median).padStart(8)} MiB/s (best ${r.best})`);
};

add(
  'chunker (restic Rabin, WASM 4 lanes)',
  rate(random.length, () => {
    const c = new Chunker(pol);
    for (let cut = c.next(random, 0); cut >= 0; cut = c.next(random, cut));
  }),
);
add(
  'SHA-256 (node:crypto), 1 MiB pieces',
  rate(
    random.length,
    perMiB(random, (b) => crypto.createHash('sha256').update(b).digest()),
  ),
);
const iv = Buffer.alloc(16, 7);
add(
  'AES-256-CTR (node:crypto), 1 MiB pieces',
  rate(
    random.length,
    perMiB(random, (b) => crypto.createCipheriv('aes-256-ctr', key.encrypt, iv).update(b)),
  ),
);
add(
  'Poly1305-AES (libsodium WASM), 1 MiB pieces',
  rate(
    random.length,
    perMiB(random, (b) => poly1305Aes(b, iv, key.mac.k, key.mac.r)),
  ),
);
add(
  'encrypt = AES-CTR + Poly1305, 1 MiB pieces',
  rate(
    random.length,
    perMiB(random, (b) => encrypt(key, b)),
  ),
);
const textZ = [];
add(
  'zstd compress auto (WASM), text',
  rate(text.length, () => {
    textZ.length = 0;
    for (let o = 0; o < text.length; o += MiB) textZ.push(zstdCompress(text.subarray(o, o + MiB), 'auto'));
  }),
);
add(
  'zstd compress auto (WASM), random',
  rate(
    random.length,
    perMiB(random, (b) => zstdCompress(b, 'auto')),
  ),
);
add(
  'zstd decompress (WASM), text',
  rate(text.length, () => {
    for (const z of textZ) zstdDecompress(z, MiB, MiB);
  }),
);
if (typeof zlib.zstdCompressSync === 'function') {
  add(
    'zstd compress level 1 (node:zlib), text',
    rate(
      text.length,
      perMiB(text, (b) => zlib.zstdCompressSync(b, { params: { [zlib.constants.ZSTD_c_compressionLevel]: 1 } })),
    ),
  );
} else if (!argv.includes('--json')) {
  console.log(`(node:zlib has no zstd in Node ${process.version}: WASM only)`);
}
const ratio = textZ.reduce((s, z) => s + z.length, 0) / text.length;
if (argv.includes('--json'))
  console.log(JSON.stringify({ node: process.version, sizeMiB, reps, textCompressionRatio: +ratio.toFixed(3), results: out }));
else console.log(`text compresses to ${(ratio * 100).toFixed(1)} % at level auto`);
